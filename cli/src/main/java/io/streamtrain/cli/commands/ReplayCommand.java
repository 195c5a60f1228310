package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.KafkaOptions;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.Topics;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.replay.Replay;
import io.streamtrain.trainer.replay.ReplayTarget;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code streamtrain replay --application-id ID (--to-offset P:O ... | --to-datetime ISO | --by-duration D |
 * --to-earliest) [--from-checkpoint PATH] [--new-run] [--dry-run]}: moves a stopped trainer to an input position
 * ({@link Replay}).
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = {
                "Move a stopped trainer to an input position: offsets, a time, a duration back, or the earliest record.",
                "",
                "Prints the plan (per partition: from, to, records to read; warnings when data is past retention), then "
                        + "writes a checkpoint whose offsets match the new position as the run's newest (older ones of "
                        + "that step and later are moved aside, never deleted) and moves the consumer group. With "
                        + "--new-run the checkpoint starts a new run id in a new run directory instead. The trainer "
                        + "must be stopped: replay refuses while its group has live members."})
public final class ReplayCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Option(names = "--application-id", required = true, paramLabel = "ID",
            description = "The trainer's application id (its consumer group).")
    private String applicationId;

    @Mixin
    private KafkaOptions kafka;

    @Option(names = "--topic", defaultValue = Topics.TOKEN_BATCHES, paramLabel = "TOPIC",
            description = "The trainer's input topic (default: ${DEFAULT-VALUE}).")
    private String topic;

    @ArgGroup(exclusive = true, multiplicity = "1")
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

    @Option(names = "--from-checkpoint", paramLabel = "PATH",
            description = "Start the model from this checkpoint (default: the newest valid one of the run).")
    private Path fromCheckpoint;

    @Option(names = "--run-dir", paramLabel = "DIR",
            description = "The trainer's run directory (default: runs/<application id>, as `train`).")
    private Path runDirectory;

    @Option(names = "--checkpoint-dir", paramLabel = "DIR",
            description = "The trainer's checkpoint directory (default: <run dir>/checkpoints).")
    private Path checkpointDirectory;

    @Option(names = "--new-run", description = "Start a new run id from the checkpoint, in a new run directory.")
    private boolean newRun;

    @Option(names = "--new-run-dir", paramLabel = "DIR",
            description = "Directory of the new run with --new-run (default: runs/<new run id>).")
    private Path newRunDirectory;

    @Option(names = "--dry-run", description = "Print the plan only; change nothing.")
    private boolean dryRun;

    @Override
    public Integer call() throws Exception {
        if (newRunDirectory != null && !newRun) {
            throw new ParameterException(spec.commandLine(), "--new-run-dir needs --new-run");
        }
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
        Replay.Request request = new Replay.Request(applicationId, topic, replayTarget, checkpointDirectory(),
                Optional.ofNullable(fromCheckpoint), newRun, Optional.ofNullable(newRunDirectory), dryRun);
        KafkaClientSettings clients = kafka.clientSettings();
        try (Admin admin = Admin.create(clients.clientConfig(Map.of(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-replay",
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000)))) {
            new Replay(admin, Duration.ofSeconds(30), console).run(request);
        } catch (RuntimeException e) {
            throw clients.explain(e).<RuntimeException>map(message -> new CliException(message, e)).orElse(e);
        }
        return 0;
    }

    /** The checkpoint directory the trainer of these flags uses, resolved by the trainer's own rules. */
    private Path checkpointDirectory() {
        if (checkpointDirectory != null) {
            return checkpointDirectory;
        }
        TrainerConfig config = new TrainerConfig(runDirectory == null
                ? Map.of(TrainerConfig.APPLICATION_ID, applicationId)
                : Map.of(TrainerConfig.APPLICATION_ID, applicationId, TrainerConfig.RUN_DIR, runDirectory.toString()));
        return config.checkpointDir();
    }
}
