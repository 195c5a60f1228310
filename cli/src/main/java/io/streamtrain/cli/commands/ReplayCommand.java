package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.replay.Replay;
import io.streamtrain.trainer.replay.ReplayTarget;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * {@code streamtrain replay --application-id ID (--to-offset P:O ... | --to-datetime ISO | --by-duration D |
 * --to-earliest) [--from-checkpoint PATH] [--new-run] [--dry-run]}: moves a stopped trainer to an input position
 * ({@link Replay}).
 */
@Command(name = "replay", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Move a stopped trainer to an input position: offsets, a time, a duration back, or the earliest record.",
                "",
                "Prints the plan (per partition: from, to, records to read; warnings when data is past retention), then "
                        + "writes a checkpoint whose offsets match the new position as the run's newest (older ones of "
                        + "that step and later are moved aside, never deleted) and moves the consumer group. With "
                        + "--new-run the checkpoint starts a new run id in a new run directory instead. The trainer "
                        + "must be stopped: replay refuses while its group has live members."})
public final class ReplayCommand extends ConfiguredCommand {
    static final String FROM_CHECKPOINT = "from.checkpoint";
    static final String NEW_RUN = "new.run";
    static final String NEW_RUN_DIR = "new.run.dir";
    static final String DRY_RUN = "dry.run";

    /** The trainer's keys that say where its group and checkpoints are, and replay's own. */
    static final ConfigDef DEFINITION = Definitions.merge(
            Definitions.keys(TrainerConfig.CONFIG, TrainerConfig.BOOTSTRAP_SERVERS, KafkaClientSettings.COMMAND_CONFIG,
                    TrainerConfig.TOKEN_BATCHES_TOPIC, TrainerConfig.RUN_DIR, TrainerConfig.CHECKPOINT_DIR),
            Definitions.of(Definitions.withDefault(TrainerConfig.CONFIG, TrainerConfig.APPLICATION_ID,
                    ConfigDef.NO_DEFAULT_VALUE, "The trainer's application id (its consumer group).")),
            new ConfigDef()
                    .define(FROM_CHECKPOINT, Type.STRING, "", Importance.MEDIUM,
                            "Start the model from this checkpoint; empty = the newest valid one of the run.")
                    .define(NEW_RUN, Type.BOOLEAN, false, Importance.MEDIUM,
                            "Start a new run id from the checkpoint, in a new run directory.")
                    .define(NEW_RUN_DIR, Type.STRING, "", Importance.LOW,
                            "Directory of the new run with new.run; empty = runs/<new run id>.")
                    .define(DRY_RUN, Type.BOOLEAN, false, Importance.MEDIUM, "Print the plan only; change nothing."));

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .flag("--application-id", TrainerConfig.APPLICATION_ID, "ID")
            .with(SharedFlags::kafka)
            .flag("--topic", TrainerConfig.TOKEN_BATCHES_TOPIC, "TOPIC")
            .flag("--from-checkpoint", FROM_CHECKPOINT, "PATH")
            .flag("--run-dir", TrainerConfig.RUN_DIR, "DIR")
            .flag("--checkpoint-dir", TrainerConfig.CHECKPOINT_DIR, "DIR")
            .switchFlag("--new-run", NEW_RUN, true)
            .flag("--new-run-dir", NEW_RUN_DIR, "DIR")
            .switchFlag("--dry-run", DRY_RUN, true);

    public ReplayCommand() {
        super(SETTINGS);
    }

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    private Target target;

    static final class Target {
        @Option(names = "--to-offset", arity = "1..*", paramLabel = "P:O",
                description = "Next offset to read per partition, e.g. --to-offset 0:1200 1:980; other partitions keep their position.")
        List<String> offsets;

        @Option(names = "--to-datetime", paramLabel = "ISO",
                description = "The first record at or after this time, e.g. 2026-11-20T10:00:00Z (no zone: local time).")
        String datetime;

        @Option(names = "--by-duration", paramLabel = "D",
                description = "The first record at or after now minus D, e.g. 90s, 15m, 2h, 1d, PT1H30M.")
        String duration;

        @Option(names = "--to-earliest", description = "The earliest retained record of every partition.")
        boolean earliest;
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        if (target == null) {
            throw settings.usageError("give the position to move to: --to-offset P:O..., --to-datetime ISO, "
                    + "--by-duration D or --to-earliest");
        }
        settings.requireKeysWithoutDefault();
        boolean newRun = (Boolean) settings.value(NEW_RUN);
        String newRunDirectory = (String) settings.value(NEW_RUN_DIR);
        String fromCheckpoint = (String) settings.value(FROM_CHECKPOINT);
        if (!newRunDirectory.isEmpty() && !newRun) {
            throw settings.usageError(settings.describe(NEW_RUN_DIR) + " needs --new-run");
        }
        // The checkpoint directory by the trainer's own rules, from the same keys.
        TrainerConfig trainer = settings.build(TrainerConfig::new);
        ReplayTarget replayTarget;
        try {
            replayTarget = target.offsets != null ? ReplayTarget.parseOffsets(target.offsets)
                    : target.datetime != null ? ReplayTarget.parseDatetime(target.datetime, ZoneId.systemDefault())
                    : target.duration != null ? ReplayTarget.parseDuration(target.duration, Instant.now())
                    : new ReplayTarget.ToEarliest();
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintStream console = WriterOutputStream.printStream(spec.commandLine().getOut(), "");
        Replay.Request request = new Replay.Request(trainer.applicationId(), trainer.tokenBatchesTopic(), replayTarget,
                trainer.checkpointDir(), Optional.of(fromCheckpoint).filter(path -> !path.isEmpty()).map(Path::of), newRun,
                Optional.of(newRunDirectory).filter(path -> !path.isEmpty()).map(Path::of),
                (Boolean) settings.value(DRY_RUN));
        KafkaClientSettings clients = trainer.kafkaClients();
        try (Admin admin = Admin.create(clients.clientConfig(Map.of(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-replay",
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000)))) {
            new Replay(admin, Duration.ofSeconds(30), console).run(request);
        } catch (RuntimeException e) {
            throw clients.explain(e).<RuntimeException>map(message -> new CliException(message, e)).orElse(e);
        }
        return 0;
    }
}
