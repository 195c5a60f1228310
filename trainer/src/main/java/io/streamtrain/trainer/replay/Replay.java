package io.streamtrain.trainer.replay;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code streamtrain replay}: moves a stopped trainer to an input position. The checkpoint is the trainer's source of
 * truth for its position (it skips records at or below the checkpoint's offset of their partition and rewinds its
 * group to checkpoint offset + 1 on start), so a replay writes a checkpoint whose offsets say "handled up to target
 * - 1" and commits the target offsets to the group:
 * <ol>
 * <li>refuse if the trainer's group has live members;</li>
 * <li>read the checkpoint ({@code --from-checkpoint}, else the newest valid one of the run);</li>
 * <li>plan and print: per partition from, to, records to read; warnings (data past retention);</li>
 * <li>same run: move the run's checkpoints of that step and later aside (into {@code replaced-<time>/}, never
 *     deleted) and write the aligned checkpoint as the newest; new run ({@code --new-run}): write it as the first
 *     checkpoint of a new run directory under a new run id;</li>
 * <li>commit the target offsets to the group.</li>
 * </ol>
 * With {@code dryRun} only the plan is printed.
 */
public final class Replay {
    /** Metadata keys the replay adds to the checkpoint it writes. */
    public static final String REPLAY_AT_KEY = "replay.at";
    public static final String REPLAY_SOURCE_KEY = "replay.source";
    public static final String REPLAY_TARGET_KEY = "replay.target";
    public static final String PARENT_RUN_ID_KEY = "replay.parent.run.id";

    private static final DateTimeFormatter ASIDE_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")
            .withZone(ZoneOffset.UTC);

    /**
     * What to replay.
     *
     * @param applicationId  the trainer's application id (consumer group)
     * @param topic          the trainer's input topic
     * @param target         where to move
     * @param checkpointDir  the run's checkpoint directory (the trainer's {@code checkpoint.dir})
     * @param fromCheckpoint a checkpoint file to start the model from; empty = the newest valid one of the run
     * @param newRun         start a new run (new run id, new run directory) instead of rewinding this one
     * @param newRunDir      the new run's directory (its checkpoints go in {@code checkpoints/} under it);
     *                       empty = {@code runs/<new run id>}
     * @param dryRun         print the plan only
     */
    public record Request(String applicationId, String topic, ReplayTarget target, Path checkpointDir,
                          Optional<Path> fromCheckpoint, boolean newRun, Optional<Path> newRunDir, boolean dryRun) {}

    /**
     * What a replay did.
     *
     * @param plan       the plan it followed
     * @param applied    false for a dry run
     * @param checkpoint the aligned checkpoint written (empty for a dry run)
     * @param runId      the run id the trainer will continue under
     * @param runDir     for a new run, its directory: start the trainer with {@code --run-dir} this
     * @param movedAside checkpoints of the same run moved out of the way, with where they went
     */
    public record Result(ReplayPlan plan, boolean applied, Optional<Path> checkpoint, String runId,
                         Optional<Path> runDir, Map<Path, Path> movedAside) {}

    private final Admin admin;
    private final ReplayPlanner planner;
    private final PrintStream console;

    public Replay(Admin admin, Duration timeout, PrintStream console) {
        this.admin = admin;
        this.planner = new ReplayPlanner(admin, timeout);
        this.console = console;
    }

    /** Plans, prints the plan and, unless it is a dry run, applies it. */
    public Result run(Request request) throws IOException {
        planner.requireNoLiveMembers(request.applicationId());
        Path sourcePath;
        Checkpoint source;
        if (request.fromCheckpoint().isPresent()) {
            sourcePath = request.fromCheckpoint().get();
            if (!Files.isRegularFile(sourcePath)) {
                throw new ReplayException("--from-checkpoint " + sourcePath.toAbsolutePath() + " is not a file");
            }
            source = Checkpoints.read(sourcePath);
        } else {
            Optional<CheckpointStore.Loaded> newest = new CheckpointStore(request.checkpointDir(), 1).loadNewest(console);
            if (newest.isEmpty()) {
                throw new ReplayException(noCheckpointMessage(request.checkpointDir()));
            }
            CheckpointStore.Loaded loaded = newest.get();
            sourcePath = loaded.path();
            source = loaded.checkpoint();
        }
        // "from" is where the trainer would read now: its run's newest checkpoint; a new run starts where the source is
        Checkpoint position = request.newRun() || request.fromCheckpoint().isEmpty() ? source
                : new CheckpointStore(request.checkpointDir(), 1).loadNewest(console)
                .map(CheckpointStore.Loaded::checkpoint).orElse(source);
        ReplayPlan plan = planner.plan(request.applicationId(), request.topic(), request.target(), sourcePath, source,
                RunLedger.of(position.metadata()).offsets());
        console.print(plan.format());
        String sourceRunId = RunLedger.of(source.metadata()).runId();
        if (request.dryRun()) {
            console.println("dry run: nothing changed");
            return new Result(plan, false, Optional.empty(), sourceRunId, Optional.empty(), Map.of());
        }
        planner.requireNoLiveMembers(request.applicationId()); // a trainer may have started while we planned

        String runId = request.newRun() ? TrainerConfig.generateRunId() : sourceRunId;
        Map<String, String> metadata = alignedMetadata(source, sourcePath, request, plan, runId);
        Checkpoint aligned = new Checkpoint(source.config(), source.tokenizer(), source.step(), source.rngState(),
                source.parameters(), source.m(), source.v(), metadata);
        Map<Path, Path> movedAside = new LinkedHashMap<>();
        Optional<Path> runDir = Optional.empty();
        Path written;
        if (request.newRun()) {
            Path dir = request.newRunDir().orElse(Path.of("runs", runId));
            CheckpointStore store = new CheckpointStore(dir.resolve("checkpoints"), 1);
            if (!store.newestFirst().isEmpty()) {
                throw new ReplayException("the new run directory " + dir.toAbsolutePath() + " already holds"
                        + " checkpoints; choose another with --new-run-dir");
            }
            Files.createDirectories(store.directory());
            written = store.pathOf(source.step());
            Checkpoints.write(written, aligned);
            runDir = Optional.of(dir);
        } else {
            CheckpointStore store = new CheckpointStore(request.checkpointDir(), 1);
            written = store.pathOf(source.step());
            movedAside.putAll(moveAsideFrom(store, written));
            Files.createDirectories(store.directory());
            Checkpoints.write(written, aligned);
        }
        commit(request.applicationId(), request.topic(), plan);
        movedAside.forEach((from, to) -> console.println("moved " + from + " aside to " + to));
        console.println("wrote " + written + " (step " + source.step() + ", run " + runId + ") and moved group "
                + request.applicationId() + " to " + plan.targetOffsets() + "; the trainer will read "
                + plan.recordsToRead() + " record(s) already in the topic");
        runDir.ifPresent(dir -> console.println("start the new run with: streamtrain train --application-id "
                + request.applicationId() + " --run-dir " + dir));
        return new Result(plan, true, Optional.of(written), runId, runDir, movedAside);
    }

    /**
     * Why there is nothing to replay from, and where the checkpoints may be: a trainer started with {@code --run-dir}
     * keeps them in that directory's {@code checkpoints/}, which replay finds only when given the same flag; the run
     * directories beside the one looked in that hold checkpoints are named.
     */
    static String noCheckpointMessage(Path checkpointDir) throws IOException {
        Path looked = checkpointDir.toAbsolutePath().normalize();
        StringBuilder message = new StringBuilder("no checkpoint in " + looked + ". A trainer started with --run-dir DIR"
                + " keeps its checkpoints in DIR/checkpoints: give replay the same --run-dir DIR (or --checkpoint-dir"
                + " DIR if it was started with -c checkpoint.dir=DIR), or --from-checkpoint FILE for one checkpoint"
                + " file.");
        List<String> found = new ArrayList<>();
        Path runs = looked.getParent() == null ? null : looked.getParent().getParent();
        if (runs != null && Files.isDirectory(runs)) {
            try (var runDirs = Files.list(runs)) {
                for (Path runDir : runDirs.filter(Files::isDirectory).sorted().toList()) {
                    List<Path> checkpoints = new CheckpointStore(runDir.resolve("checkpoints"), 1).newestFirst();
                    if (!checkpoints.isEmpty()) {
                        found.add(displayed(runDir) + " (newest " + checkpoints.get(0).getFileName() + ")");
                    }
                }
            }
        }
        if (!found.isEmpty()) {
            message.append(" Run directories with checkpoints in ").append(displayed(runs)).append(": ")
                    .append(String.join(", ", found)).append('.');
        }
        return message.append(" A trainer without any checkpoint starts a new model from the earliest records anyway,"
                + " so there is nothing to replay.").toString();
    }

    /** {@code path} relative to the working directory when it is below it, else absolute. */
    private static String displayed(Path path) {
        Path here = Path.of("").toAbsolutePath();
        return path.startsWith(here) && !path.equals(here) ? here.relativize(path).toString() : path.toString();
    }

    /**
     * The source's metadata with every offset of the input topic set to target - 1 (the last handled offset, so
     * that the trainer's replay skip starts at target), the run id, and where the replay came from.
     */
    static Map<String, String> alignedMetadata(Checkpoint source, Path sourcePath, Request request, ReplayPlan plan,
                                               String runId) {
        RunLedger ledger = RunLedger.of(source.metadata());
        Map<Integer, Long> lastHandled = new TreeMap<>();
        plan.targetOffsets().forEach((partition, target) -> lastHandled.put(partition, target - 1));
        Map<String, String> history = new LinkedHashMap<>();
        if (request.newRun() && !ledger.runId().isEmpty()) {
            history.put(PARENT_RUN_ID_KEY, ledger.runId());
        }
        history.put(REPLAY_AT_KEY, Instant.now().toString());
        history.put(REPLAY_SOURCE_KEY, sourcePath.toAbsolutePath().toString());
        history.put(REPLAY_TARGET_KEY, plan.target());
        return ledger.withOffsetsOf(request.topic(), lastHandled).withRun(runId, history).toMetadata();
    }

    /** Moves the store's checkpoints at or after {@code newest} (by name: by step) into a {@code replaced-<time>/} folder. */
    private static Map<Path, Path> moveAsideFrom(CheckpointStore store, Path newest) throws IOException {
        List<Path> later = new ArrayList<>();
        for (Path file : store.newestFirst()) {
            if (file.getFileName().toString().compareTo(newest.getFileName().toString()) >= 0) {
                later.add(file);
            }
        }
        Map<Path, Path> moved = new LinkedHashMap<>();
        if (later.isEmpty()) {
            return moved;
        }
        Path aside = store.directory().resolve("replaced-" + ASIDE_TIME.format(Instant.now()));
        Files.createDirectories(aside);
        for (Path file : later) {
            Path to = aside.resolve(file.getFileName());
            Files.move(file, to);
            moved.put(file, to);
        }
        return moved;
    }

    private void commit(String groupId, String topic, ReplayPlan plan) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        plan.targetOffsets().forEach((partition, offset) -> offsets.put(new TopicPartition(topic, partition),
                new OffsetAndMetadata(offset))); // no metadata string: Kafka Streams warns on any it did not write
        planner.get(admin.alterConsumerGroupOffsets(groupId, offsets).all(), "move group " + groupId
                + " to the replay's offsets (the checkpoint is written: the trainer moves the group itself on start)");
    }
}
