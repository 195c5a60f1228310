package io.streamtrain.trainer.world.internal;

import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.internal.RunningLedger;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.common.TopicPartition;

/**
 * A rank's ledger: the world's checkpoint it restored, then its own changes (the offsets of its partitions, the
 * checksums of the datasets it trained, its dead-letter positions, its batch and token counts). At a checkpoint every
 * rank sends {@link #part} to rank 0, which merges them into the {@link #world world's ledger}.
 */
public final class RankLedger {
    private final RunningLedger ledger;
    private final long restoredBatches;
    private final long restoredTokens;
    private final Set<String> touched = new HashSet<>();

    public RankLedger(RunLedger restored) {
        this.ledger = new RunningLedger(restored);
        this.restoredBatches = restored.batchesTrained();
        this.restoredTokens = restored.tokensTrained();
    }

    /** The batches trained by the whole world before the restore. */
    public long restoredBatches() { return restoredBatches; }

    /** The last handled offset of every partition, restored or this rank's. */
    public Map<TopicPartition, Long> offsets() { return ledger.offsets(); }

    /** The next offset of every dead-letter partition, restored or this rank's. */
    public Map<Integer, Long> deadLetterPositions() { return ledger.deadLetterPositions(); }

    /** The record at {@code offset}, batch {@code sequence} of {@code dataset}, was applied. */
    public void applied(TopicPartition partition, long offset, String dataset, long sequence, long tokens) {
        ledger.applied(partition, offset, dataset, sequence, tokens);
        touched.add(dataset);
    }

    /** The record at {@code offset} was sent to the dead-letter topic, which now ends at {@code positions}. */
    public void deadLettered(TopicPartition partition, long offset, Map<Integer, Long> positions) {
        ledger.deadLettered(partition, offset, positions);
    }

    /** This rank's part of a checkpoint, as text: the offsets of {@code partitions}, its datasets, its counts. */
    public String part(List<TopicPartition> partitions) {
        Map<TopicPartition, Long> offsets = new LinkedHashMap<>();
        for (TopicPartition partition : partitions) {
            ledger.offset(partition).ifPresent(offset -> offsets.put(partition, offset));
        }
        Map<String, Long> sums = new TreeMap<>(ledger.batchChecksums());
        sums.keySet().retainAll(touched);
        RunLedger part = new RunLedger("", Optional.empty(), ledger.batchesTrained() - restoredBatches,
                ledger.tokensTrained() - restoredTokens, offsets, sums, ledger.deadLetterPositions(), Map.of(),
                Map.of());
        Properties properties = new Properties();
        properties.putAll(part.toMetadata());
        StringWriter text = new StringWriter();
        try {
            properties.store(text, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return text.toString();
    }

    /**
     * The world's ledger at a step boundary, on rank 0: the restored one, every rank's {@link #part} over it (the
     * largest next offset of each dead-letter partition), the counts summed; {@code world} entries added.
     */
    public RunLedger world(String runId, List<String> parts, Map<String, String> world) {
        Map<TopicPartition, Long> offsets = new TreeMap<>(RunLedger.PARTITION_ORDER);
        offsets.putAll(ledger.offsets());
        Map<String, Long> sums = new TreeMap<>(ledger.batchChecksums());
        Map<Integer, Long> letters = new TreeMap<>(ledger.deadLetterPositions());
        long batches = restoredBatches;
        long tokens = restoredTokens;
        for (String text : parts) {
            RunLedger rank = parse(text);
            offsets.putAll(rank.offsets());
            sums.putAll(rank.batchChecksums());
            rank.deadLetterPositions().forEach((p, next) -> letters.merge(p, next, Math::max));
            batches += rank.batchesTrained();
            tokens += rank.tokensTrained();
        }
        return new RunLedger(runId, Optional.of(Instant.now()), batches, tokens, offsets, sums, letters, Map.of(),
                world);
    }

    private static RunLedger parse(String text) {
        Properties properties = new Properties();
        try {
            properties.load(new StringReader(text));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, String> entries = new LinkedHashMap<>();
        properties.stringPropertyNames().forEach(key -> entries.put(key, properties.getProperty(key)));
        return RunLedger.of(entries);
    }
}
