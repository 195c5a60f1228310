package io.streamtrain.trainer.world.internal;

import io.streamtrain.schemas.KafkaClientSettings;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * A rank's partitions of the token-batch topic (partition p belongs to rank p mod W), read with a plain consumer,
 * no consumer group, from the ledger's offset + 1 (from the start where the ledger has none).
 */
public final class RankInput implements AutoCloseable {
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final List<TopicPartition> partitions;
    private final ArrayDeque<ConsumerRecord<byte[], byte[]>> pending = new ArrayDeque<>();
    private final long waitMillis;

    /**
     * @param handled    the last handled offset of partitions (the ledger's)
     * @param waitMillis how long {@link #next} waits for a record
     */
    public RankInput(KafkaClientSettings clients, String topic, int rank, int worldSize,
                     Map<TopicPartition, Long> handled, long waitMillis) {
        Map<String, Object> properties = clients.clientConfig();
        properties.remove(ConsumerConfig.GROUP_ID_CONFIG); // partitions assigned, no group
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        properties.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "16");
        this.consumer = new KafkaConsumer<>(properties, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.waitMillis = waitMillis;
        try {
            this.partitions = assign(consumer, topic, rank, worldSize);
            for (TopicPartition partition : partitions) {
                Long offset = handled.get(partition);
                if (offset == null) {
                    consumer.seekToBeginning(List.of(partition));
                } else {
                    consumer.seek(partition, offset + 1);
                }
            }
        } catch (RuntimeException e) {
            consumer.close();
            throw e;
        }
    }

    /**
     * Partitions p of {@code topic} with p mod W = rank, assigned to the consumer.
     *
     * @throws IllegalStateException when the topic has fewer partitions than ranks (a rank would have none)
     */
    public static List<TopicPartition> assign(KafkaConsumer<?, ?> consumer, String topic, int rank, int worldSize) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(60));
        int count = infos == null ? 0 : infos.size();
        if (count < worldSize) {
            throw new IllegalStateException("topic " + topic + " has " + count + " partition(s), fewer than the "
                    + worldSize + " ranks: every rank needs at least one; add partitions (kafka-topics --alter"
                    + " --partitions " + worldSize + ") or lower --world-size");
        }
        List<TopicPartition> mine = new ArrayList<>();
        for (int p = rank; p < count; p += worldSize) {
            mine.add(new TopicPartition(topic, p));
        }
        consumer.assign(mine);
        return mine;
    }

    /** This rank's partitions. */
    public List<TopicPartition> partitions() {
        return partitions;
    }

    /** The next record of this rank's partitions, waiting up to the wait given; null when none came. */
    public ConsumerRecord<byte[], byte[]> next() {
        if (pending.isEmpty()) {
            long deadline = System.nanoTime() + waitMillis * 1_000_000L;
            while (pending.isEmpty()) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    break;
                }
                consumer.poll(Duration.ofMillis(left)).forEach(pending::add);
            }
        }
        return pending.poll();
    }

    @Override
    public void close() {
        consumer.close();
    }
}
