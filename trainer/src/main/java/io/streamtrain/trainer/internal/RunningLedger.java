package io.streamtrain.trainer.internal;

import io.streamtrain.trainer.RunLedger;
import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.common.TopicPartition;

/**
 * The run's ledger as training goes on: the last handled offset of every input partition (applied or
 * dead-lettered), the batches and tokens trained, the order checksum of every dataset and the next offset of every
 * dead-letter partition. Starts from a checkpoint's {@link RunLedger} (or empty) and gives one back for the next
 * checkpoint. Not thread-safe: its owner serializes the calls.
 */
public final class RunningLedger {
    private final Map<TopicPartition, Long> offsets = new TreeMap<>(RunLedger.PARTITION_ORDER);
    private final Map<String, Long> checksums = new TreeMap<>();
    private final Map<Integer, Long> deadLetterPositions = new TreeMap<>();
    private long batchesTrained;
    private long tokensTrained;

    /** A ledger that starts where {@code restored} ends. */
    public RunningLedger(RunLedger restored) {
        offsets.putAll(restored.offsets());
        checksums.putAll(restored.batchChecksums());
        deadLetterPositions.putAll(restored.deadLetterPositions());
        batchesTrained = restored.batchesTrained();
        tokensTrained = restored.tokensTrained();
    }

    /** An empty ledger: a new run. */
    public RunningLedger() {
        this(RunLedger.of(Map.of()));
    }

    /** One batch more in a dataset's checksum: {@code h = 31 h + sequence}. */
    public static long nextChecksum(long h, long sequence) {
        return 31 * h + sequence;
    }

    /** Whether the record at {@code offset} was already handled (applied or dead-lettered): a replay to skip. */
    public boolean alreadyHandled(TopicPartition partition, long offset) {
        Long handled = offsets.get(partition);
        return handled != null && offset <= handled;
    }

    /** The record at {@code offset} is handled, not trained (a step not applied). */
    public void handled(TopicPartition partition, long offset) {
        offsets.put(partition, offset);
    }

    /**
     * The record at {@code offset}, batch {@code sequence} of {@code dataset} with {@code tokens} tokens, was
     * applied: its offset is handled, the batch counts as trained and goes into its dataset's checksum.
     */
    public void applied(TopicPartition partition, long offset, String dataset, long sequence, long tokens) {
        offsets.put(partition, offset);
        batchesTrained++;
        tokensTrained += tokens;
        checksums.merge(dataset, sequence, RunningLedger::nextChecksum);
    }

    /**
     * The record at {@code offset} is on the dead-letter topic: handled; {@code positions} (dead-letter partition to
     * next offset) are where a restart starts looking for dead letters sent after the checkpoint.
     */
    public void deadLettered(TopicPartition partition, long offset, Map<Integer, Long> positions) {
        offsets.put(partition, offset);
        deadLetterPositions.putAll(positions);
    }

    /** The ledger to checkpoint now, under {@code runId}, with the re-send buffer {@code resend}. */
    public RunLedger snapshot(String runId, Instant createdAt, Map<String, String> resend) {
        return new RunLedger(runId, Optional.of(createdAt), batchesTrained, tokensTrained, offsets, checksums,
                deadLetterPositions, resend, Map.of());
    }

    public long batchesTrained() { return batchesTrained; }
    public long tokensTrained() { return tokensTrained; }
    /** The last handled offset of every input partition seen or restored, in partition order. */
    public Map<TopicPartition, Long> offsets() { return Collections.unmodifiableMap(new LinkedHashMap<>(offsets)); }
    /** The last handled offset of {@code partition}, if any. */
    public Optional<Long> offset(TopicPartition partition) { return Optional.ofNullable(offsets.get(partition)); }
    public Map<String, Long> batchChecksums() { return Map.copyOf(checksums); }
    public Map<Integer, Long> deadLetterPositions() { return Map.copyOf(deadLetterPositions); }
}
