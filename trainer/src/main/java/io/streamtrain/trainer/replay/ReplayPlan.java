package io.streamtrain.trainer.replay;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a replay will do, computed before anything changes: for every partition of the input topic where the trainer
 * reads now, where it will read next, and how many records that is; plus the warnings (data past retention).
 *
 * @param applicationId  the trainer's application id (its consumer group)
 * @param topic          the input topic
 * @param target         what was asked, in words
 * @param checkpoint     the checkpoint the replay starts the model from
 * @param checkpointStep that checkpoint's step
 * @param moves          one per partition of the topic, by partition
 * @param warnings       things the user must know before applying, each a full sentence
 */
public record ReplayPlan(String applicationId, String topic, String target, Path checkpoint, long checkpointStep,
                         List<PartitionMove> moves, List<String> warnings) {

    public ReplayPlan {
        moves = List.copyOf(moves);
        warnings = List.copyOf(warnings);
    }

    /**
     * One partition's move.
     *
     * @param partition the partition of the input topic
     * @param current   offset the trainer would read next now (the checkpoint's last handled offset + 1, else the
     *                  group's committed offset, else the log-start offset)
     * @param requested the offset asked for (before clamping to the retained log)
     * @param target    the offset the trainer will read next after the replay: {@code requested} clamped to
     *                  [log start, log end]
     * @param logStart  the partition's log-start offset (the oldest retained record)
     * @param logEnd    the partition's log-end offset (the next record to be written)
     */
    public record PartitionMove(int partition, long current, long requested, long target, long logStart,
                                long logEnd) {
        /** Records the trainer will read from {@code target} up to the end of the log as it is now. */
        public long recordsToRead() {
            return Math.max(0, logEnd - target);
        }

        /** Whether retention deleted some of what was asked for. */
        public boolean belowLogStart() {
            return requested < logStart;
        }
    }

    /** The offset the trainer reads next, per partition, after the replay. */
    public Map<Integer, Long> targetOffsets() {
        Map<Integer, Long> offsets = new TreeMap<>();
        moves.forEach(move -> offsets.put(move.partition(), move.target()));
        return offsets;
    }

    /** Records to read in all, from the targets to the current ends of the log. */
    public long recordsToRead() {
        return moves.stream().mapToLong(PartitionMove::recordsToRead).sum();
    }

    /** The plan as a table with a heading and the warnings, for the console. */
    public String format() {
        StringBuilder text = new StringBuilder();
        text.append("replay of ").append(applicationId).append(" on topic ").append(topic).append(" to ")
                .append(target).append('\n');
        text.append("model from checkpoint ").append(checkpoint).append(" (step ").append(checkpointStep)
                .append(")\n");
        text.append(String.format("%9s %14s %14s %14s %14s %16s%n", "partition", "from", "to", "log start",
                "log end", "records to read"));
        for (PartitionMove move : moves) {
            text.append(String.format("%9d %14d %14d %14d %14d %16d%s%n", move.partition(), move.current(),
                    move.target(), move.logStart(), move.logEnd(), move.recordsToRead(),
                    move.belowLogStart() ? "  (asked " + move.requested() + ")" : ""));
        }
        text.append(String.format("%9s %14s %14s %14s %14s %16d%n", "all", "", "", "", "", recordsToRead()));
        for (String warning : warnings) {
            text.append("WARNING: ").append(warning).append('\n');
        }
        return text.toString();
    }
}
