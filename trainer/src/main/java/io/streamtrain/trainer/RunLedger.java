package io.streamtrain.trainer;

import java.time.Instant;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.common.TopicPartition;

/**
 * What a checkpoint carries besides the model: the run's ledger. One record, with one converter to and from the
 * checkpoint's metadata (string keys and values in the safetensors header), written by {@link ResidentModel} and
 * read by it, by {@code replay} and by {@code checkpoint show}. The keys are those every checkpoint since the first
 * has used, so old checkpoints read as they are (a field they lack takes its empty value):
 * <ul>
 * <li>{@code run.id}, {@code created.at}, {@code batches.trained}, {@code tokens.trained};</li>
 * <li>{@code kafka.offset.<topic>-<partition>}: the last handled (applied or dead-lettered) offset;</li>
 * <li>{@code batches.checksum.<dataset>}: {@code h = 31 h + sequence} over the applied batches of the dataset, from
 *     h = 0, in the order applied; a batch lost, repeated or reordered changes it;</li>
 * <li>{@code dead.letters.next.<partition>}: the next offset of each dead-letter partition after this run's last
 *     dead letter, where a restart starts looking for those it sent after the checkpoint;</li>
 * <li>{@code emitted.*}: the re-send buffer, the metrics and sample records of the last steps (their format is the
 *     business of {@code EmittedRecords}; here they are carried as they are);</li>
 * <li>anything else (the replay history, e.g. {@code replay.*}, {@code parent.run.id}) in {@link #other()}.</li>
 * </ul>
 *
 * @param runId               the run's id; empty when the checkpoint has none
 * @param createdAt           when the checkpoint was written, if it says
 * @param offsets             last handled offset per input partition
 * @param batchChecksums      order checksum per dataset
 * @param deadLetterPositions next offset per dead-letter partition
 * @param resendBuffer        the {@code emitted.*} entries
 * @param other               every other entry, in the checkpoint's order
 */
public record RunLedger(String runId, Optional<Instant> createdAt, long batchesTrained, long tokensTrained,
                        Map<TopicPartition, Long> offsets, Map<String, Long> batchChecksums,
                        Map<Integer, Long> deadLetterPositions, Map<String, String> resendBuffer,
                        Map<String, String> other) {
    public static final String RUN_ID_KEY = "run.id";
    public static final String CREATED_AT_KEY = "created.at";
    public static final String BATCHES_TRAINED_KEY = "batches.trained";
    public static final String TOKENS_TRAINED_KEY = "tokens.trained";
    /** Key prefix of the last handled offset of a partition: {@code kafka.offset.<topic>-<p>}. */
    public static final String OFFSET_KEY_PREFIX = "kafka.offset.";
    /** Key prefix of a dataset's order checksum: {@code batches.checksum.<dataset>}. */
    public static final String BATCHES_CHECKSUM_KEY_PREFIX = "batches.checksum.";
    /** Key prefix of the next offset of a dead-letter partition: {@code dead.letters.next.<p>}. */
    public static final String DEAD_LETTERS_NEXT_KEY_PREFIX = "dead.letters.next.";
    /** Key prefix of the re-send buffer's entries. */
    public static final String RESEND_KEY_PREFIX = "emitted.";

    /** Partitions by topic, then number: the order offsets are written and printed in. */
    public static final Comparator<TopicPartition> PARTITION_ORDER =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    public RunLedger {
        Map<TopicPartition, Long> sortedOffsets = new TreeMap<>(PARTITION_ORDER);
        sortedOffsets.putAll(offsets);
        offsets = Collections.unmodifiableMap(sortedOffsets);
        batchChecksums = Collections.unmodifiableMap(new TreeMap<>(batchChecksums));
        deadLetterPositions = Collections.unmodifiableMap(new TreeMap<>(deadLetterPositions));
        resendBuffer = Collections.unmodifiableMap(new TreeMap<>(resendBuffer));
        other = Collections.unmodifiableMap(new LinkedHashMap<>(other));
    }

    /** The ledger of a checkpoint's metadata; every entry lands in exactly one field. */
    public static RunLedger of(Map<String, String> metadata) {
        Map<TopicPartition, Long> offsets = new TreeMap<>(PARTITION_ORDER);
        Map<String, Long> checksums = new TreeMap<>();
        Map<Integer, Long> deadLetters = new TreeMap<>();
        Map<String, String> resend = new TreeMap<>();
        Map<String, String> other = new LinkedHashMap<>();
        metadata.forEach((key, value) -> {
            if (key.startsWith(OFFSET_KEY_PREFIX)) {
                offsets.put(partitionOf(key.substring(OFFSET_KEY_PREFIX.length())), Long.parseLong(value));
            } else if (key.startsWith(BATCHES_CHECKSUM_KEY_PREFIX)) {
                checksums.put(key.substring(BATCHES_CHECKSUM_KEY_PREFIX.length()), Long.parseLong(value));
            } else if (key.startsWith(DEAD_LETTERS_NEXT_KEY_PREFIX)) {
                deadLetters.put(Integer.parseInt(key.substring(DEAD_LETTERS_NEXT_KEY_PREFIX.length())),
                        Long.parseLong(value));
            } else if (key.startsWith(RESEND_KEY_PREFIX)) {
                resend.put(key, value);
            } else if (!key.equals(RUN_ID_KEY) && !key.equals(CREATED_AT_KEY) && !key.equals(BATCHES_TRAINED_KEY)
                    && !key.equals(TOKENS_TRAINED_KEY)) {
                other.put(key, value);
            }
        });
        return new RunLedger(metadata.getOrDefault(RUN_ID_KEY, ""),
                Optional.ofNullable(metadata.get(CREATED_AT_KEY)).map(Instant::parse),
                Long.parseLong(metadata.getOrDefault(BATCHES_TRAINED_KEY, "0")),
                Long.parseLong(metadata.getOrDefault(TOKENS_TRAINED_KEY, "0")),
                offsets, checksums, deadLetters, resend, other);
    }

    /** The checkpoint metadata of this ledger, in a fixed order; {@link #of} reads it back equal. */
    public Map<String, String> toMetadata() {
        Map<String, String> metadata = new LinkedHashMap<>();
        if (!runId.isEmpty()) {
            metadata.put(RUN_ID_KEY, runId);
        }
        metadata.put(BATCHES_TRAINED_KEY, Long.toString(batchesTrained));
        metadata.put(TOKENS_TRAINED_KEY, Long.toString(tokensTrained));
        createdAt.ifPresent(time -> metadata.put(CREATED_AT_KEY, time.toString()));
        offsets.forEach((partition, offset) -> metadata.put(offsetKey(partition), Long.toString(offset)));
        batchChecksums.forEach((dataset, h) -> metadata.put(BATCHES_CHECKSUM_KEY_PREFIX + dataset, Long.toString(h)));
        deadLetterPositions.forEach((p, next) -> metadata.put(DEAD_LETTERS_NEXT_KEY_PREFIX + p, Long.toString(next)));
        metadata.putAll(resendBuffer);
        other.forEach(metadata::putIfAbsent);
        return metadata;
    }

    /** The same ledger with the offsets of {@code topic} replaced by {@code topicOffsets} (partition to offset). */
    public RunLedger withOffsetsOf(String topic, Map<Integer, Long> topicOffsets) {
        Map<TopicPartition, Long> changed = new TreeMap<>(PARTITION_ORDER);
        offsets.forEach((partition, offset) -> {
            if (!partition.topic().equals(topic)) {
                changed.put(partition, offset);
            }
        });
        topicOffsets.forEach((partition, offset) -> changed.put(new TopicPartition(topic, partition), offset));
        return new RunLedger(runId, createdAt, batchesTrained, tokensTrained, changed, batchChecksums,
                deadLetterPositions, resendBuffer, other);
    }

    /** The same ledger under another run id, with {@code entries} added to {@link #other()}. */
    public RunLedger withRun(String newRunId, Map<String, String> entries) {
        Map<String, String> more = new LinkedHashMap<>(other);
        more.putAll(entries);
        return new RunLedger(newRunId, createdAt, batchesTrained, tokensTrained, offsets, batchChecksums,
                deadLetterPositions, resendBuffer, more);
    }

    /** The metadata key of a partition's offset, {@code kafka.offset.<topic>-<partition>}. */
    public static String offsetKey(TopicPartition partition) {
        return OFFSET_KEY_PREFIX + partition.topic() + "-" + partition.partition();
    }

    private static TopicPartition partitionOf(String topicPartition) {
        int dash = topicPartition.lastIndexOf('-');
        return new TopicPartition(topicPartition.substring(0, dash),
                Integer.parseInt(topicPartition.substring(dash + 1)));
    }
}
