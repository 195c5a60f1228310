package io.streamtrain.cli.demo;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;

/**
 * {@code streamtrain demo}: the whole pipeline in one process on a real Kafka broker: embedded broker, producer,
 * trainer and dashboard, until {@code --max-steps} or Ctrl-C. See {@link DemoRun} for what happens in which order.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Run the whole pipeline on an embedded Kafka broker, with live progress and a dashboard.",
                "",
                "Documents -> producer -> token batches -> trainer -> metrics and samples, on a real single-node KRaft "
                        + "broker started in this process (or an existing Kafka with --bootstrap-servers), until "
                        + "--max-steps or Ctrl-C. With no --input it trains on the sample corpus shipped with streamtrain, "
                        + "read as many times as the steps need.",
                "",
                "Leaves metrics_history.json, text_samples.json, charts, the final checkpoint and logs in --run-dir."})
public final class DemoCommand extends ConfiguredCommand {
    private static final DateTimeFormatter RUN_DIRECTORY_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    static final String INPUTS = "inputs";
    static final String DASHBOARD = "dashboard";
    static final String DASHBOARD_PORT = "dashboard.port";

    /** The trainer's keys the demo passes on (some with the demo's own default), and the demo's own. */
    static final ConfigDef DEFINITION = Definitions.merge(
            Definitions.keys(TrainerConfig.CONFIG, TrainerConfig.MODEL, TrainerConfig.TOKENIZER, TrainerConfig.BACKEND,
                    TrainerConfig.CPU_THREADS, TrainerConfig.SEED, KafkaClientSettings.COMMAND_CONFIG),
            Definitions.of(
                    Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.MAX_STEPS, 200L,
                            "Training steps (one batch each) before the demo stops."),
                    Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.BATCH_ROWS, 32,
                            "Rows B of every batch; 0 = the model preset's. The demo's 32 rows of 64 tokens hold as many"
                                    + " tokens as the tiny preset's 8 x 256 and learn faster from them."),
                    Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.SEQUENCE_LENGTH, 64,
                            "Sequence length T of every batch; 0 = the model preset's context length."),
                    Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.LEARNING_RATE, 2e-3,
                            "Peak AdamW learning rate, reached after " + DemoRun.WARMUP_STEPS + " steps of warm-up and"
                                    + " decayed along a cosine to a tenth at --max-steps; higher than the trainer's so"
                                    + " that a short demo shows learning."),
                    Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.RUN_DIR, "",
                            "Where the run's files go; empty = runs/<date-time>.")),
            new ConfigDef()
                    .define(TrainerConfig.BOOTSTRAP_SERVERS, Type.STRING, "", Importance.HIGH,
                            "Use this Kafka, host:port[,host:port...], instead of starting an embedded broker (empty); "
                                    + "batches go to a topic of their own for this run.")
                    .define(INPUTS, Type.LIST, List.of(), Importance.HIGH,
                            "Files or directories to train on; empty = the sample corpus shipped with streamtrain.")
                    .define(TrainerConfig.SAMPLE_EVERY_STEPS, Type.INT, null, Definitions.nullOr(Range.atLeast(0)),
                            Importance.MEDIUM, "Generate a text sample every N steps; unset = max.steps / 5, at most 50.")
                    .define(DASHBOARD, Type.BOOLEAN, true, Importance.MEDIUM, "Start the live dashboard.")
                    .define(DASHBOARD_PORT, Type.INT, 8080, Range.between(0, 65535), Importance.MEDIUM,
                            "Port of the live dashboard on 127.0.0.1; a free port is taken when it is busy; 0 = any "
                                    + "free port."));

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .with(SharedFlags::pipeline)
            .listFlag("--input", INPUTS, "PATH")
            .with(SharedFlags::backend)
            .flag("--max-steps", TrainerConfig.MAX_STEPS, "N")
            .flag("--run-dir", TrainerConfig.RUN_DIR, "DIR")
            .flag("--bootstrap-servers", TrainerConfig.BOOTSTRAP_SERVERS, "HOST:PORT")
            .flag("--command-config", KafkaClientSettings.COMMAND_CONFIG, "FILE")
            .flag("--sample-every", TrainerConfig.SAMPLE_EVERY_STEPS, "N")
            .flag("--dashboard-port", DASHBOARD_PORT, "PORT")
            .switchFlag("--no-dashboard", DASHBOARD, false)
            .flag("--seed", TrainerConfig.SEED, "SEED")
            .flag("--learning-rate", TrainerConfig.LEARNING_RATE, "LR");

    public DemoCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        SharedFlags.derivePipelineShape(settings);
        long maxSteps = (Long) settings.value(TrainerConfig.MAX_STEPS);
        if (maxSteps < 1) {
            throw settings.usageError(settings.describe(TrainerConfig.MAX_STEPS) + " must be at least 1, got " + maxSteps);
        }
        double learningRate = (Double) settings.value(TrainerConfig.LEARNING_RATE);
        if (learningRate <= 0) {
            throw settings.usageError(settings.describe(TrainerConfig.LEARNING_RATE) + " must be in (0, 1], got " + learningRate);
        }
        if ("cuda".equals(settings.value(TrainerConfig.BACKEND))) {
            // Before the broker starts and the run directory is made: without a GPU the demo cannot run at all.
            CudaDevice device = CudaDevice.probe();
            if (!device.available()) {
                throw new CliException(settings.describe(TrainerConfig.BACKEND) + " is cuda, but CUDA cannot be used: "
                        + device.reason() + "; use --backend cpu, or auto to take the GPU when there is one");
            }
        }
        @SuppressWarnings("unchecked")
        List<Path> inputs = ((List<String>) settings.value(INPUTS)).stream().map(Path::of).toList();
        for (Path input : inputs) {
            if (!Files.exists(input)) {
                throw settings.usageError(settings.describe(INPUTS) + ": " + input + " does not exist");
            }
        }
        String runDirectory = (String) settings.value(TrainerConfig.RUN_DIR);
        Path runDir = !runDirectory.isEmpty() ? Path.of(runDirectory)
                : Path.of("runs", LocalDateTime.now().format(RUN_DIRECTORY_TIME));
        Integer sampleEvery = (Integer) settings.value(TrainerConfig.SAMPLE_EVERY_STEPS);
        String bootstrapServers = (String) settings.value(TrainerConfig.BOOTSTRAP_SERVERS);
        String commandConfig = (String) settings.value(KafkaClientSettings.COMMAND_CONFIG);
        if (!commandConfig.isEmpty() && bootstrapServers.isEmpty()) {
            throw settings.usageError(settings.describe(KafkaClientSettings.COMMAND_CONFIG)
                    + " is for an existing Kafka: give its --bootstrap-servers too");
        }
        DemoRun.Settings demo = new DemoRun.Settings((String) settings.value(TrainerConfig.MODEL),
                (String) settings.value(TrainerConfig.TOKENIZER), (String) settings.value(TrainerConfig.BACKEND),
                (Integer) settings.value(TrainerConfig.CPU_THREADS), (Integer) settings.value(TrainerConfig.BATCH_ROWS),
                (Integer) settings.value(TrainerConfig.SEQUENCE_LENGTH), maxSteps,
                sampleEvery != null ? sampleEvery : (int) Math.max(1, Math.min(50, maxSteps / 5)),
                inputs, runDir, bootstrapServers.isEmpty() ? null : bootstrapServers, commandConfig,
                (Boolean) settings.value(DASHBOARD) ? (Integer) settings.value(DASHBOARD_PORT) : -1,
                (Long) settings.value(TrainerConfig.SEED), learningRate);
        return new DemoRun(demo, spec.commandLine().getOut()).run();
    }
}
