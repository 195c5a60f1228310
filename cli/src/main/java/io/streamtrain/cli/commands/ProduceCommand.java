package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.producer.DocumentProducer;
import io.streamtrain.producer.ProducerException;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.trainer.TrainerConfig;
import picocli.CommandLine.Command;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code streamtrain produce}: documents from files, directories or stdin -> TokenBatch records on Kafka. Its settings
 * are the {@link ProducerSettings} keys, with the trainer's model preset and batch shape keys (B and T default from
 * the preset, as the trainer's do).
 */
@Command(name = "produce", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Tokenize documents and publish them to Kafka as Avro token batches of B rows of T+1 ids.",
                "",
                "Inputs: plain text (one document per file), JSON Lines with a text field, gzip of either; '-' reads "
                        + "standard input. Bad input is reported with file and line, skipped and counted; only fatal "
                        + "errors (no input, broker unreachable) exit non-zero. A document larger than "
                        + "--max-document-bytes (default 4 MiB) is skipped the same way. Keys starting with kafka. go "
                        + "to the Kafka clients (e.g. -c kafka.compression.type=lz4).",
                "",
                "--follow keeps watching the input directories: a new file is read once its size and time stayed "
                        + "unchanged for follow.settle.ms (2 s), and what is appended to a file already read is read "
                        + "on (new JSON lines; new text as a further document; not for .gz). To add a file safely, "
                        + "write it as NAME.part (or .tmp, .partial, a hidden .NAME) and rename it when complete: "
                        + "such names are ignored."})
public final class ProduceCommand extends ConfiguredCommand {
    private static final long STOP_TIMEOUT_SECONDS = 30;

    static final CommandSettings SETTINGS = CommandSettings.of(Definitions.merge(ProducerSettings.DEFINITION,
                    Definitions.keys(TrainerConfig.CONFIG, TrainerConfig.MODEL, TrainerConfig.BATCH_ROWS,
                            TrainerConfig.SEQUENCE_LENGTH)))
            .setFlagAlso("-P", "--producer-property")
            .listFlag("--input", ProducerSettings.INPUTS, "PATH")
            .with(SharedFlags::pipeline)
            .with(SharedFlags::kafka)
            .flag("--topic", ProducerSettings.TOPIC, "TOPIC")
            .flag("--dataset", ProducerSettings.DATASET, "NAME")
            .switchFlag("--no-spread", ProducerSettings.SPREAD, false)
            .flag("--format", ProducerSettings.INPUT_FORMAT, "auto|text|jsonl")
            .switchFlag("--follow", ProducerSettings.FOLLOW, true)
            .flag("--max-document-bytes", ProducerSettings.MAX_DOCUMENT_BYTES, "BYTES")
            .flag("--epochs", ProducerSettings.EPOCHS, "N")
            .flag("--holdout", ProducerSettings.HOLDOUT, "FRACTION")
            .flag("--split", ProducerSettings.SPLIT, "train|eval")
            .flag("--eval-topic", ProducerSettings.EVAL_TOPIC, "TOPIC")
            .flag("--shuffle", ProducerSettings.SHUFFLE_ROWS, "ROWS")
            .flag("--seed", ProducerSettings.SEED, "SEED")
            .flag("--first-sequence", ProducerSettings.FIRST_SEQUENCE, "N")
            .flag("--threads", ProducerSettings.THREADS, "N")
            .flag("--progress", ProducerSettings.PROGRESS, "auto|bar|log|none");

    public ProduceCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings resolved) throws Exception {
        ProducerSettings settings = settings(resolved);
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

    /** The producer's settings from those this command was given: B and T from the preset unless set. */
    static ProducerSettings settings(ResolvedSettings resolved) {
        if (((List<?>) resolved.value(ProducerSettings.INPUTS)).isEmpty()) {
            throw resolved.usageError("--input is required: files, directories or - for standard input (or "
                    + ProducerSettings.INPUTS + " by -c, --config or "
                    + CommandSettings.environmentVariable(ProducerSettings.INPUTS) + ")");
        }
        SharedFlags.derivePipelineShape(resolved);
        return resolved.build(originals -> {
            originals.remove(TrainerConfig.MODEL); // only the defaults of B and T depend on it
            return new ProducerSettings(originals);
        });
    }
}
