package io.streamtrain.monitor.internal;

import io.streamtrain.monitor.RunStore;
import io.streamtrain.monitor.RunStore.ConsumerLag;
import io.streamtrain.schemas.KafkaClientSettings;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Measures the lag of the trainer's consumer group every few seconds: for each partition it has committed, the latest
 * offset ({@code listOffsets}) minus the committed one ({@code listConsumerGroupOffsets}), summed per topic.
 */
public final class ConsumerLagPoller implements AutoCloseable {
    private static final long REQUEST_TIMEOUT_SECONDS = 10;

    private final Admin admin;
    private final String groupId;
    private final RunStore store;
    private final ScheduledExecutorService scheduler = DaemonThreads.scheduler("streamtrain-monitor-lag");

    public ConsumerLagPoller(KafkaClientSettings clients, String groupId, RunStore store) {
        this.admin = Admin.create(clients.clientConfig(
            Map.of(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-monitor-lag")));
        this.groupId = groupId;
        this.store = store;
    }

    public void start(long intervalMillis) {
        scheduler.scheduleWithFixedDelay(this::poll, 0, intervalMillis, TimeUnit.MILLISECONDS);
    }

    /** Measures once and puts the result (or why there is none) into the store. */
    public void poll() {
        store.setConsumerLag(measure());
    }

    ConsumerLag measure() {
        Instant now = Instant.now();
        try {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(groupId)
                .partitionsToOffsetAndMetadata().get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            committed.forEach((partition, offset) -> {
                if (offset != null) {
                    latest.put(partition, OffsetSpec.latest());
                }
            });
            if (latest.isEmpty()) {
                return ConsumerLag.unavailable(groupId, now, "group " + groupId + " has committed no offsets yet");
            }
            Map<TopicPartition, ListOffsetsResultInfo> ends = admin.listOffsets(latest).all()
                .get(REQUEST_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            Map<String, Long> byTopic = new TreeMap<>();
            long total = 0;
            for (Map.Entry<TopicPartition, ListOffsetsResultInfo> end : ends.entrySet()) {
                long lag = Math.max(0, end.getValue().offset() - committed.get(end.getKey()).offset());
                byTopic.merge(end.getKey().topic(), lag, Long::sum);
                total += lag;
            }
            return new ConsumerLag(groupId, now, total, Map.copyOf(byTopic), null);
        } catch (ExecutionException e) {
            return ConsumerLag.unavailable(groupId, now, "cannot read the offsets of group " + groupId + ": " + e.getCause());
        } catch (TimeoutException e) {
            return ConsumerLag.unavailable(groupId, now, "Kafka did not answer within " + REQUEST_TIMEOUT_SECONDS
                + " s for the offsets of group " + groupId);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return ConsumerLag.unavailable(groupId, now, "interrupted");
        }
    }

    @Override
    public void close() throws InterruptedException {
        scheduler.shutdownNow();
        scheduler.awaitTermination(5, TimeUnit.SECONDS);
        admin.close(java.time.Duration.ofSeconds(2));
    }
}
