package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.BackendOptions;
import io.streamtrain.cli.options.ReplicaOptions;
import io.streamtrain.cli.options.KafkaOptions;
import io.streamtrain.cli.options.PipelineOptions;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * {@code streamtrain train}: the trainer, a Kafka Streams application, until {@code --max-steps} or Ctrl-C (final
 * checkpoint either way). Flags cover the common settings; {@code -c KEY=VALUE} and {@code --config FILE} reach
 * every {@link TrainerConfig} key.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {
                "Train from the token-batch topic (Kafka Streams), one step per batch, until --max-steps or Ctrl-C.",
                "",
                "The model stays resident on the GPU or CPU; metrics and samples go to their topics, checkpoints to the "
                        + "run directory (a final one on stop). A restart resumes from the newest checkpoint and its Kafka "
                        + "offsets. Every trainer setting is reachable with -c KEY=VALUE (see --list-config)."})
public final class TrainCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private PipelineOptions pipeline;

    @Mixin
    private KafkaOptions kafka;

    @Mixin
    private BackendOptions backend;

    @Mixin
    private ReplicaOptions replicas;

    @Option(names = "--max-steps", defaultValue = "0", paramLabel = "N",
            description = "Stop after N optimizer steps in all (restored steps count); 0 = until Ctrl-C (default: ${DEFAULT-VALUE}).")
    private long maxSteps;

    @Option(names = "--run-dir", paramLabel = "DIR",
            description = "Directory of the run's checkpoints and files (default: runs/<application id>).")
    private Path runDirectory;

    @Option(names = "--application-id", defaultValue = "streamtrain-trainer", paramLabel = "ID",
            description = "Kafka Streams application id = consumer group (default: ${DEFAULT-VALUE}).")
    private String applicationId;

    @Option(names = "--metrics-port", paramLabel = "PORT",
            description = "Serve Prometheus metrics on http://localhost:PORT/metrics (default: off).")
    private Integer metricsPort;

    @Option(names = "--sample-every", paramLabel = "N", description = "Generate a text sample every N steps (default: 50).")
    private Integer sampleEvery;

    @Option(names = "--config", paramLabel = "FILE", description = "A properties file of trainer settings; flags and -c win.")
    private Path configFile;

    @Option(names = {"-c", "--set"}, paramLabel = "KEY=VALUE",
            description = "Any trainer setting, e.g. -c learning.rate=1e-3 -c checkpoint.every.steps=100.")
    private Map<String, String> settings = Map.of();

    @Option(names = "--list-config", description = "Print every trainer setting with its default and doc, and exit.")
    private boolean listConfig;

    @Override
    public Integer call() throws Exception {
        PrintStream console = WriterOutputStream.printStream(spec.commandLine().getOut(), "");
        if (listConfig) {
            console.print(TrainerConfig.CONFIG.toRst());
            return 0;
        }
        pipeline.validate(spec.commandLine());
        backend.validate(spec.commandLine());
        replicas.validate(spec.commandLine());
        TrainerConfig config = config();
        Trainer trainer = new Trainer(config, console);
        AtomicBoolean interrupted = new AtomicBoolean();
        Thread stopOnCtrlC = new Thread(() -> {
            interrupted.set(true);
            console.println("interrupted: stopping (final checkpoint) ...");
            trainer.stop();
        }, "streamtrain-train-stop");
        Runtime.getRuntime().addShutdownHook(stopOnCtrlC);
        try {
            trainer.start();
            long target = config.maxSteps() > 0 ? config.maxSteps() : Long.MAX_VALUE;
            while (!trainer.awaitSteps(target, Duration.ofMinutes(1))) {
                // until max-steps, Ctrl-C (the hook stops the trainer) or a failure (awaitSteps throws)
            }
        } catch (IllegalStateException e) {
            if (interrupted.get()) {
                return 130; // Ctrl-C: the hook stops the trainer
            }
            throw e;
        } finally {
            trainer.stop();
            ShutdownHooks.remove(stopOnCtrlC);
        }
        return 0;
    }

    private TrainerConfig config() throws IOException {
        Map<String, Object> properties = new HashMap<>();
        if (configFile != null) {
            Properties file = new Properties();
            try (InputStream in = Files.newInputStream(configFile)) {
                file.load(in);
            } catch (IOException e) {
                throw new CliException("cannot read --config " + configFile.toAbsolutePath() + ": " + e.getMessage(), e);
            }
            file.forEach((key, value) -> properties.put(key.toString(), value));
        }
        properties.putAll(settings);
        properties.put(TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers);
        properties.put(TrainerConfig.APPLICATION_ID, applicationId);
        properties.put(TrainerConfig.BACKEND, backend.backend);
        properties.put(TrainerConfig.CPU_THREADS, backend.cpuThreads);
        if (replicas.replicas != null) {
            properties.put(TrainerConfig.REPLICAS, replicas.replicas);
        }
        properties.put(TrainerConfig.MODEL, pipeline.model);
        properties.put(TrainerConfig.TOKENIZER, pipeline.tokenizer);
        properties.put(TrainerConfig.BATCH_ROWS, pipeline.batchRows());
        properties.put(TrainerConfig.SEQUENCE_LENGTH, pipeline.sequenceLength());
        properties.put(TrainerConfig.MAX_STEPS, maxSteps);
        if (runDirectory != null) {
            properties.put(TrainerConfig.RUN_DIR, runDirectory.toString());
        }
        if (metricsPort != null) {
            properties.put(TrainerConfig.METRICS_PORT, metricsPort);
        }
        if (sampleEvery != null) {
            properties.put(TrainerConfig.SAMPLE_EVERY_STEPS, sampleEvery);
        }
        try {
            return new TrainerConfig(properties);
        } catch (ConfigException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }
}
