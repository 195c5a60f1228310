package io.streamtrain.monitor.internal;

import io.streamtrain.monitor.RunStore;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the metrics, samples and dead-letter topics into a {@link RunStore} on its own thread. Partitions are assigned,
 * not subscribed (no consumer group, nothing committed: the monitor never disturbs the trainer), and looked up again
 * every few seconds, so topics created after the monitor started are followed too. Each new partition starts at the
 * beginning or, with a start time, at the first offset at or after it ({@code offsetsForTimes}).
 */
public final class TopicFollower implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(TopicFollower.class);
    private static final Duration POLL = Duration.ofMillis(100);
    private static final long PARTITION_REFRESH_MILLIS = 2000;
    private static final int LOGGED_UNDECODABLE = 10;
    private static final String ERROR_HEADER_PREFIX = "__streams.errors.";

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaClientSettings clients;
    private final String bootstrapServers;
    private final String metricsTopic;
    private final String samplesTopic;
    private final String deadLettersTopic;
    private final Instant startTime;
    private final RunStore store;
    private final Deserializer<TrainingMetrics> metricsDeserializer = AvroSerdes.trainingMetrics().deserializer();
    private final Deserializer<TextSample> samplesDeserializer = AvroSerdes.textSample().deserializer();
    private final Set<TopicPartition> assigned = new HashSet<>();
    private final Thread thread;
    private volatile boolean closed;
    private volatile Throwable failure;
    private long undecodableLogged;

    /**
     * @param startTime where to start in each partition, or null for the beginning
     */
    public TopicFollower(KafkaClientSettings clients, String metricsTopic, String samplesTopic, String deadLettersTopic,
                         Instant startTime, RunStore store) {
        Map<String, Object> properties = clients.clientConfig(Map.of(ConsumerConfig.CLIENT_ID_CONFIG, "streamtrain-monitor"));
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        properties.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        // read_committed: a trainer with exactly-once shows only steps whose transaction committed.
        properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        this.consumer = new KafkaConsumer<>(properties, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.clients = clients;
        this.bootstrapServers = clients.bootstrapServers();
        this.metricsTopic = metricsTopic;
        this.samplesTopic = samplesTopic;
        this.deadLettersTopic = deadLettersTopic;
        this.startTime = startTime;
        this.store = store;
        this.thread = new Thread(this::run, "streamtrain-monitor-follower");
        this.thread.setDaemon(true);
    }

    public void start() {
        thread.start();
    }

    /** The error that stopped the follower, if one did: a rejection by the cluster says so in its message. */
    public Throwable failure() {
        return failure;
    }

    private void run() {
        long nextRefresh = 0;
        boolean unreachable = false;
        try {
            while (!closed) {
                try {
                    if (System.currentTimeMillis() >= nextRefresh) {
                        assignNewPartitions();
                        nextRefresh = System.currentTimeMillis() + PARTITION_REFRESH_MILLIS;
                    }
                    if (assigned.isEmpty()) {
                        Thread.sleep(POLL.toMillis());
                        continue;
                    }
                    for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                        accept(record);
                    }
                    if (unreachable) {
                        log.info("The monitor reaches Kafka again at {}", bootstrapServers);
                        unreachable = false;
                    }
                } catch (RetriableException e) { // TimeoutException is one
                    // The broker is not up yet, or restarting: say so once and keep trying.
                    if (!unreachable) {
                        log.warn("The monitor cannot reach Kafka at {} ({}); it keeps trying", bootstrapServers, e.toString());
                        unreachable = true;
                    }
                    nextRefresh = System.currentTimeMillis() + PARTITION_REFRESH_MILLIS;
                }
            }
        } catch (WakeupException | InterruptedException e) {
            if (!closed) {
                failure = e;
            }
        } catch (RuntimeException e) {
            Optional<String> rejected = clients.explain(e);
            failure = rejected.<Throwable>map(message -> new KafkaException(message, e)).orElse(e);
            if (rejected.isPresent()) {
                log.error("The monitor stopped: {}", rejected.get());
                return;
            }
            log.error("The monitor stopped reading {}, {} and {} from Kafka at {}: {}", metricsTopic, samplesTopic,
                deadLettersTopic, bootstrapServers, e.toString(), e);
        } finally {
            consumer.close(Duration.ofSeconds(2));
        }
    }

    private void assignNewPartitions() {
        Map<String, List<PartitionInfo>> topics = consumer.listTopics(Duration.ofSeconds(5));
        List<TopicPartition> fresh = new ArrayList<>();
        for (String topic : List.of(metricsTopic, samplesTopic, deadLettersTopic)) {
            for (PartitionInfo info : topics.getOrDefault(topic, List.of())) {
                TopicPartition partition = new TopicPartition(info.topic(), info.partition());
                if (assigned.add(partition)) {
                    fresh.add(partition);
                }
            }
        }
        if (fresh.isEmpty()) {
            return;
        }
        consumer.assign(assigned);
        if (startTime == null) {
            consumer.seekToBeginning(fresh);
        } else {
            Map<TopicPartition, Long> times = new HashMap<>();
            fresh.forEach(partition -> times.put(partition, startTime.toEpochMilli()));
            Map<TopicPartition, OffsetAndTimestamp> offsets = consumer.offsetsForTimes(times, Duration.ofSeconds(10));
            List<TopicPartition> nothingAfter = new ArrayList<>();
            offsets.forEach((partition, offset) -> {
                if (offset == null) {
                    nothingAfter.add(partition);
                } else {
                    consumer.seek(partition, offset.offset());
                }
            });
            consumer.seekToEnd(nothingAfter);
        }
        log.info("The monitor follows {} from {}", fresh, startTime == null ? "the beginning" : startTime);
    }

    private void accept(ConsumerRecord<byte[], byte[]> record) {
        String topic = record.topic();
        if (topic.equals(deadLettersTopic)) {
            store.addDeadLetter(new RunStore.DeadLetter(Instant.ofEpochMilli(record.timestamp()), record.partition(),
                record.offset(), header(record, "topic", "?") + "-" + header(record, "partition", "?") + "@"
                + header(record, "offset", "?"), reason(record)));
            return;
        }
        if (record.value() == null) {
            return; // a tombstone: nothing to draw
        }
        try {
            if (topic.equals(metricsTopic)) {
                store.putMetrics(metricsDeserializer.deserialize(topic, record.value()));
            } else if (topic.equals(samplesTopic)) {
                store.putSample(samplesDeserializer.deserialize(topic, record.value()));
            }
        } catch (RuntimeException e) {
            store.addUndecodable();
            if (undecodableLogged++ < LOGGED_UNDECODABLE) {
                log.warn("Skipping a record the monitor cannot decode at {}-{} offset {}: {} (is a producer writing another "
                    + "format to this topic?)", topic, record.partition(), record.offset(), e.toString());
            }
        }
    }

    /** The reason the trainer gave: the exception message header, else the exception class, else unknown. */
    private static String reason(ConsumerRecord<byte[], byte[]> record) {
        String message = header(record, "message", null);
        String exception = header(record, "exception", null);
        if (message != null && exception != null) {
            return exception + ": " + message;
        }
        return message != null ? message : exception != null ? exception : "no reason given (no __streams.errors.* headers)";
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String name, String absent) {
        Header header = record.headers().lastHeader(ERROR_HEADER_PREFIX + name);
        return header == null || header.value() == null ? absent : new String(header.value(), StandardCharsets.UTF_8);
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        if (thread.getState() == Thread.State.NEW) {
            consumer.close(Duration.ofSeconds(2));
            return;
        }
        consumer.wakeup();
        thread.join(10_000);
    }
}
