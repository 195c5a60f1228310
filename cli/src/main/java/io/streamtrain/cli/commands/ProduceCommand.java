package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.KafkaOptions;
import io.streamtrain.cli.options.PipelineOptions;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.producer.DocumentProducer;
import io.streamtrain.producer.ProducerException;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.schemas.Topics;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code streamtrain produce}: documents from files, directories or stdin -> TokenBatch records on Kafka. */
@Command(name = "produce", mixinStandardHelpOptions = true,
        description = {
                "Tokenize documents and publish them to Kafka as Avro token batches of B rows of T+1 ids.",
                "",
                "Inputs: plain text (one document per file), JSON Lines with a text field, gzip of either; '-' reads "
                        + "standard input. Bad input is reported with file and line, skipped and counted; only fatal "
                        + "errors (no input, broker unreachable) exit non-zero."})
public final class ProduceCommand implements Callable<Integer> {
    private static final long STOP_TIMEOUT_SECONDS = 30;

    @Spec
    private CommandSpec spec;

    @Mixin
    private PipelineOptions pipeline;

    @Option(names = "--input", required = true, arity = "1..*", paramLabel = "PATH",
            description = "Files, directories (recursive, in path order) or - for standard input.")
    private List<String> inputs;

    @Mixin
    private KafkaOptions kafka;

    @Option(names = "--topic", defaultValue = Topics.TOKEN_BATCHES, description = "Token-batch topic (default: ${DEFAULT-VALUE}).")
    private String topic;

    @Option(names = "--dataset", defaultValue = "default",
            description = "Dataset name: the record key, so one dataset keeps its order (default: ${DEFAULT-VALUE}).")
    private String dataset;

    @Option(names = "--format", defaultValue = "auto", paramLabel = "auto|text|jsonl",
            description = "Input format; auto decides by suffix, then by the first character (default: ${DEFAULT-VALUE}).")
    private String format;

    @Option(names = "--follow", description = "Keep watching the input directories and ingest new files until Ctrl-C.")
    private boolean follow;

    @Option(names = "--epochs", defaultValue = "1", paramLabel = "N",
            description = "Read the inputs N times (not with --follow or stdin) (default: ${DEFAULT-VALUE}).")
    private int epochs;

    @Option(names = "--holdout", defaultValue = "0", paramLabel = "FRACTION",
            description = "Hold out this fraction of the input for evaluation (e.g. 0.1): a deterministic, disjoint "
                    + "part of every document, by content, sent once to --eval-topic (default: ${DEFAULT-VALUE}, off).")
    private double holdout;

    @Option(names = "--split", defaultValue = "train", paramLabel = "train|eval",
            description = "eval: the whole input is an evaluation corpus, sent to --eval-topic (default: ${DEFAULT-VALUE}).")
    private String split;

    @Option(names = "--eval-topic", defaultValue = Topics.EVAL_BATCHES,
            description = "Topic of evaluation batches, read by the trainer (default: ${DEFAULT-VALUE}).")
    private String evalTopic;

    @Option(names = "--shuffle", defaultValue = "0", paramLabel = "ROWS",
            description = "Shuffled epochs: batches drawn from a buffer of ROWS windows, each epoch after the first at "
                    + "a random offset; deterministic by --seed (default: ${DEFAULT-VALUE}, off).")
    private int shuffleRows;

    @Option(names = "--seed", defaultValue = "1337", description = "Seed of the held-out split and the shuffle (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--first-sequence", defaultValue = "0", paramLabel = "N",
            description = "Sequence number of the first batch, to continue a dataset (default: ${DEFAULT-VALUE}).")
    private long firstSequence;

    @Option(names = "--threads", paramLabel = "N", description = "Tokenizer threads (default: the number of processors).")
    private Integer threads;

    @Option(names = "--progress", defaultValue = "auto", paramLabel = "auto|bar|log|none",
            description = "Progress display; auto: a bar on a terminal, log lines otherwise (default: ${DEFAULT-VALUE}).")
    private String progress;

    @Option(names = {"-P", "--producer-property"}, paramLabel = "KEY=VALUE",
            description = "Any producer setting (ProducerSettings keys, or kafka.* for the Kafka client, e.g. kafka.compression.type=lz4).")
    private Map<String, String> properties = Map.of();

    @Override
    public Integer call() {
        pipeline.validate(spec.commandLine());
        ProducerSettings settings = settings();
        DocumentProducer producer = new DocumentProducer(settings, WriterOutputStream.printStream(spec.commandLine().getOut(), ""));
        // Ctrl-C: the producer finishes the current document and publishes its full batches before the JVM exits.
        CountDownLatch done = new CountDownLatch(1);
        Thread stopOnCtrlC = new Thread(() -> {
            producer.stop();
            try {
                done.await(STOP_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "streamtrain-produce-stop");
        Runtime.getRuntime().addShutdownHook(stopOnCtrlC);
        try {
            producer.call();
        } catch (ProducerException e) {
            throw new CliException(e.getMessage(), e);
        } finally {
            done.countDown();
            ShutdownHooks.remove(stopOnCtrlC);
        }
        return 0;
    }

    private ProducerSettings settings() {
        ProducerSettings.Builder builder = ProducerSettings.builder()
                .bootstrapServers(kafka.bootstrapServers)
                .commandConfig(kafka.commandConfigValue())
                .topic(topic)
                .dataset(dataset)
                .tokenizer(pipeline.tokenizer)
                .batchRows(pipeline.batchRows())
                .sequenceLength(pipeline.sequenceLength())
                .inputs(inputs)
                .inputFormat(format)
                .follow(follow)
                .epochs(epochs)
                .holdout(holdout)
                .split(split)
                .evalTopic(evalTopic)
                .shuffleRows(shuffleRows)
                .seed(seed)
                .firstSequence(firstSequence)
                .progress(progress);
        if (threads != null) {
            builder.threads(threads);
        }
        properties.forEach(builder::set);
        try {
            return builder.build();
        } catch (ConfigException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }
}
