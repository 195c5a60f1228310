package io.streamtrain.trainer.world.internal;

import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.internal.RunningLedger;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.apache.kafka.common.TopicPartition;

/**
 * A rank's ledger: the world's checkpoint it restored, then its own changes (the offsets of its partitions, the
 * checksums of the datasets it trained, its dead-letter positions, its batch and token counts). At a checkpoint every
 * rank sends {@link #part} to rank 0, which merges them into the {@link #world world's ledger}.
 *
 * <p>Order checksums: each partition is read by one rank at a time and is in order, so the world keeps one per
 * (dataset, partition), {@value #PARTITION_CHECKSUM_KEY_PREFIX}{@code <topic>-<p>/<dataset>} (in the ledger's
 * {@link RunLedger#other()}): it holds whichever rank trained the partition, so a restart with another world size
 * (partitions dealt to other ranks) continues it, and a dataset spread over partitions has one per partition. The
 * per-dataset {@code batches.checksum.<dataset>} of the one-process trainer is kept too; it holds only when one rank
 * trains the dataset: a name the parts of two ranks both carry (records of one dataset name produced into partitions
 * of different ranks, not through {@code produce}, which names the shards {@code <dataset>@<p>}) keeps the one of the
 * highest of those ranks, and {@link #world} says so once per dataset, naming the ranks, their partitions and the
 * partition checksums that hold every batch.
 *
 * <p>A checkpoint without partition checksums (written before them, or by the one-process trainer) seeds the checksum
 * of each partition a dataset is next trained from with the dataset's checksum: right for a dataset that came from
 * one partition (produce's shards), the only case where that checksum held every batch.
 */
public final class RankLedger {
    private final RunningLedger ledger;
    private final long restoredBatches;
    private final long restoredTokens;
    /** Part key of the partitions a rank trained a dataset from: {@code dataset.partitions.<dataset>}. */
    static final String DATASET_PARTITIONS_KEY_PREFIX = "dataset.partitions.";
    /** The datasets this rank trained since the restore, with the partitions they came from. */
    private final Map<String, Set<String>> touched = new TreeMap<>();
    /** The datasets {@link #world} already warned about. */
    private final Set<String> warned = new TreeSet<>();
    /** Key prefix of a (dataset, partition) order checksum: {@code partition.checksum.<topic>-<p>/<dataset>}. */
    public static final String PARTITION_CHECKSUM_KEY_PREFIX = "partition.checksum.";
    /** The restored (dataset, partition) checksums, by key. */
    private final Map<String, Long> restoredPartitionChecksums = new TreeMap<>();
    /** The restored checksums of datasets that have no partition checksum: the seeds of an older checkpoint. */
    private final Map<String, Long> datasetSeeds = new TreeMap<>();
    /** The (dataset, partition) checksums, restored or this rank's, by key. */
    private final Map<String, Long> partitionChecksums = new TreeMap<>();
    /** The keys of {@link #partitionChecksums} this rank changed since the restore. */
    private final Set<String> changedPartitionChecksums = new TreeSet<>();

    public RankLedger(RunLedger restored) {
        this.ledger = new RunningLedger(restored);
        this.restoredBatches = restored.batchesTrained();
        this.restoredTokens = restored.tokensTrained();
        restored.other().forEach((key, value) -> {
            if (key.startsWith(PARTITION_CHECKSUM_KEY_PREFIX)) {
                restoredPartitionChecksums.put(key, Long.parseLong(value));
            }
        });
        partitionChecksums.putAll(restoredPartitionChecksums);
        datasetSeeds.putAll(restored.batchChecksums());
        restoredPartitionChecksums.keySet().forEach(key -> datasetSeeds.remove(key.substring(key.indexOf('/') + 1)));
    }

    /** The checkpoint key of the order checksum of {@code dataset}'s batches from {@code partition}. */
    public static String partitionChecksumKey(TopicPartition partition, String dataset) {
        return PARTITION_CHECKSUM_KEY_PREFIX + partition.topic() + "-" + partition.partition() + "/" + dataset;
    }

    /** The (dataset, partition) order checksums, restored or this rank's, by {@link #partitionChecksumKey}. */
    public Map<String, Long> partitionChecksums() { return Map.copyOf(partitionChecksums); }

    /** The batches trained by the whole world before the restore. */
    public long restoredBatches() { return restoredBatches; }

    /** The last handled offset of every partition, restored or this rank's. */
    public Map<TopicPartition, Long> offsets() { return ledger.offsets(); }

    /** The next offset of every dead-letter partition, restored or this rank's. */
    public Map<Integer, Long> deadLetterPositions() { return ledger.deadLetterPositions(); }

    /** The record at {@code offset}, batch {@code sequence} of {@code dataset}, was applied. */
    public void applied(TopicPartition partition, long offset, String dataset, long sequence, long tokens) {
        ledger.applied(partition, offset, dataset, sequence, tokens);
        touched.computeIfAbsent(dataset, d -> new TreeSet<>()).add(partition.toString());
        String key = partitionChecksumKey(partition, dataset);
        Long h = partitionChecksums.get(key);
        partitionChecksums.put(key, h == null && !datasetSeeds.containsKey(dataset) ? sequence
                : RunningLedger.nextChecksum(h == null ? datasetSeeds.get(dataset) : h, sequence));
        changedPartitionChecksums.add(key);
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
        sums.keySet().retainAll(touched.keySet());
        Map<String, String> datasetPartitions = new LinkedHashMap<>();
        touched.forEach((dataset, from) ->
                datasetPartitions.put(DATASET_PARTITIONS_KEY_PREFIX + dataset, String.join(",", from)));
        changedPartitionChecksums.forEach(key -> datasetPartitions.put(key, Long.toString(partitionChecksums.get(key))));
        RunLedger part = new RunLedger("", Optional.empty(), ledger.batchesTrained() - restoredBatches,
                ledger.tokensTrained() - restoredTokens, offsets, sums, ledger.deadLetterPositions(), Map.of(),
                datasetPartitions);
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
     * largest next offset of each dead-letter partition), the counts summed; {@code world} entries added. {@code parts}
     * are by rank. A dataset trained by more than one rank keeps the checksum of the highest of them; {@code warn}
     * gets, once per such dataset, what that means and how to avoid it.
     */
    public RunLedger world(String runId, List<String> parts, Map<String, String> world, Consumer<String> warn) {
        Map<TopicPartition, Long> offsets = new TreeMap<>(RunLedger.PARTITION_ORDER);
        offsets.putAll(ledger.offsets());
        Map<String, Long> sums = new TreeMap<>(ledger.batchChecksums());
        Map<Integer, Long> letters = new TreeMap<>(ledger.deadLetterPositions());
        long batches = restoredBatches;
        long tokens = restoredTokens;
        Map<String, TreeMap<Integer, String>> trainedBy = new TreeMap<>(); // dataset -> rank -> its partitions
        Map<String, String> entries = new LinkedHashMap<>(world);
        restoredPartitionChecksums.forEach((key, h) -> entries.put(key, Long.toString(h)));
        for (int r = 0; r < parts.size(); r++) {
            RunLedger rank = parse(parts.get(r));
            int index = r;
            rank.other().forEach((key, value) -> {
                if (key.startsWith(DATASET_PARTITIONS_KEY_PREFIX)) {
                    trainedBy.computeIfAbsent(key.substring(DATASET_PARTITIONS_KEY_PREFIX.length()),
                            d -> new TreeMap<>()).put(index, value);
                } else if (key.startsWith(PARTITION_CHECKSUM_KEY_PREFIX)) {
                    entries.put(key, value); // a partition is one rank's at a time: its value replaces the restored one
                }
            });
            offsets.putAll(rank.offsets());
            sums.putAll(rank.batchChecksums());
            rank.deadLetterPositions().forEach((p, next) -> letters.merge(p, next, Math::max));
            batches += rank.batchesTrained();
            tokens += rank.tokensTrained();
        }
        trainedBy.forEach((dataset, ranks) -> {
            if (ranks.size() > 1 && warned.add(dataset)) {
                warn.accept(sharedDataset(dataset, ranks));
            }
        });
        return new RunLedger(runId, Optional.of(Instant.now()), batches, tokens, offsets, sums, letters, Map.of(),
                entries);
    }

    private static String sharedDataset(String dataset, TreeMap<Integer, String> ranks) {
        StringBuilder who = new StringBuilder();
        ranks.forEach((rank, from) -> who.append(who.isEmpty() ? "" : ", ").append("rank ").append(rank)
                .append(" (").append(from).append(')'));
        return "warning: dataset '" + dataset + "' is trained by " + ranks.size() + " ranks: " + who
                + "; its per-dataset order checksum (batches.checksum." + dataset + ") is the one of rank "
                + ranks.lastKey() + ", without the batches of the other ranks; the checksums per partition ("
                + PARTITION_CHECKSUM_KEY_PREFIX + "<topic>-<p>/" + dataset + ") hold every batch, and the offsets,"
                + " hence exactly-once, are not affected. Produce the dataset with 'streamtrain"
                + " produce', which spreads it over the partitions as the shards '" + dataset + "@<partition>', or"
                + " give the records of each partition a dataset name of their own";
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
