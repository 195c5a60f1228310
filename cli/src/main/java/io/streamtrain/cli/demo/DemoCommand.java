package io.streamtrain.cli.demo;

import io.streamtrain.cli.options.BackendOptions;
import io.streamtrain.cli.options.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code streamtrain demo}: the whole pipeline in one process on a real Kafka broker: embedded broker, producer,
 * trainer and dashboard, until {@code --max-steps} or Ctrl-C. See {@link DemoRun} for what happens in which order.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {
                "Run the whole pipeline on an embedded Kafka broker, with live progress and a dashboard.",
                "",
                "Documents -> producer -> token batches -> trainer -> metrics and samples, on a real single-node KRaft "
                        + "broker started in this process (or an existing Kafka with --bootstrap-servers), until "
                        + "--max-steps or Ctrl-C. With no --input it trains on the sample corpus shipped with streamtrain, "
                        + "read as many times as the steps need.",
                "",
                "Leaves metrics_history.json, text_samples.json, charts, the final checkpoint and logs in --run-dir."})
public final class DemoCommand implements Callable<Integer> {
    private static final DateTimeFormatter RUN_DIRECTORY_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    @Spec
    private CommandSpec spec;

    @Mixin
    private PipelineOptions pipeline;

    @Option(names = "--input", arity = "1..*", paramLabel = "PATH",
            description = "Files or directories to train on (default: the sample corpus shipped with streamtrain).")
    private List<Path> inputs = List.of();

    @Mixin
    private BackendOptions backend;

    @Option(names = "--max-steps", defaultValue = "200", paramLabel = "N",
            description = "Training steps (one batch each) before the demo stops (default: ${DEFAULT-VALUE}).")
    private long maxSteps;

    @Option(names = "--run-dir", paramLabel = "DIR",
            description = "Where the run's files go (default: runs/<date-time>).")
    private Path runDirectory;

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT",
            description = "Use this Kafka instead of starting an embedded broker; batches go to a topic of their own for this run.")
    private String bootstrapServers;

    @Option(names = "--command-config", paramLabel = "FILE",
            description = "With --bootstrap-servers: Kafka client properties (security.protocol, sasl.*, ssl.* ...) for "
                    + "every Kafka client of the demo, as Kafka's tools take them.")
    private Path commandConfig;

    @Option(names = "--sample-every", paramLabel = "N",
            description = "Generate a text sample every N steps (default: max-steps / 5, at most 50).")
    private Integer sampleEvery;

    @Option(names = "--dashboard-port", defaultValue = "8080", paramLabel = "PORT",
            description = "Port of the live dashboard on 127.0.0.1; a free port is taken when it is busy; 0 = any free port (default: ${DEFAULT-VALUE}).")
    private int dashboardPort;

    @Option(names = "--no-dashboard", description = "Do not start the dashboard.")
    private boolean noDashboard;

    @Option(names = "--seed", defaultValue = "1337", description = "Seed of the initial weights and of sampling (default: ${DEFAULT-VALUE}).")
    private long seed;

    @Option(names = "--learning-rate", defaultValue = "1e-3", paramLabel = "LR",
            description = "Peak AdamW learning rate; higher than the trainer's 3e-4 so that a short demo shows learning (default: ${DEFAULT-VALUE}).")
    private double learningRate;

    @Override
    public Integer call() throws Exception {
        pipeline.validate(spec.commandLine());
        require(maxSteps >= 1, "--max-steps must be at least 1, got " + maxSteps);
        require(sampleEvery == null || sampleEvery >= 0, "--sample-every must be at least 0, got " + sampleEvery);
        require(dashboardPort >= 0 && dashboardPort <= 65535, "--dashboard-port must be in [0, 65535], got " + dashboardPort);
        require(learningRate > 0 && learningRate < 1, "--learning-rate must be in (0, 1), got " + learningRate);
        require(commandConfig == null || bootstrapServers != null,
                "--command-config is for an existing Kafka: give its --bootstrap-servers too");
        backend.validate(spec.commandLine());
        for (Path input : inputs) {
            if (!Files.exists(input)) {
                throw new ParameterException(spec.commandLine(), "--input " + input + " does not exist");
            }
        }
        Path runDir = runDirectory != null ? runDirectory
                : Path.of("runs", LocalDateTime.now().format(RUN_DIRECTORY_TIME));
        DemoRun.Settings settings = new DemoRun.Settings(pipeline.model, pipeline.tokenizer, backend.backend, backend.cpuThreads,
                pipeline.batchRows(), pipeline.sequenceLength(), maxSteps,
                sampleEvery != null ? sampleEvery : (int) Math.max(1, Math.min(50, maxSteps / 5)),
                inputs, runDir, bootstrapServers, commandConfig == null ? "" : commandConfig.toString(), noDashboard ? -1 : dashboardPort, seed, learningRate);
        return new DemoRun(settings, spec.commandLine().getOut()).run();
    }

    private void require(boolean condition, String message) {
        if (!condition) {
            throw new ParameterException(spec.commandLine(), message);
        }
    }
}
