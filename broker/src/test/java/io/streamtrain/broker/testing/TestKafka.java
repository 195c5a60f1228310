package io.streamtrain.broker.testing;

import io.streamtrain.broker.EmbeddedKafkaBroker;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The Kafka test kit of every module: the project's {@link EmbeddedKafkaBroker} (a real single-node KRaft broker in
 * this JVM, loopback, data in a temporary directory deleted on close) with the helpers tests need: topics, an
 * admin client, a producer, reading a topic back, stopping and restarting the broker.
 *
 * <p>A broker starts in a few seconds: share one per test class, and give each test its own topics. Registered as a
 * JUnit 5 extension on a static field, the kit starts its broker before the class's first test and stops it after
 * the last:
 * <pre>{@code
 * @RegisterExtension
 * static final TestKafka kafka = TestKafka.perClass();
 *
 * @Test void ...() throws Exception {
 *     kafka.createTopic("t", 3);
 *     ... kafka.bootstrapServers() ...
 *     List<ConsumerRecord<String, V>> records = kafka.readUntil("t", values, r -> r.size() == 10, timeout);
 * }
 * }</pre>
 *
 * <p>Settings are the demo broker's with two test changes: Kafka's default {@code message.max.bytes} (1 MiB, what a
 * stock broker accepts; the demo raises it to 16 MiB) and {@code group.min.session.timeout.ms} 2 s (tests of
 * failover use short sessions). More listeners (SASL, TLS) or other settings: {@link #perClass(Consumer)}. A test that
 * wants a broker of its own: {@code try (TestKafka kafka = TestKafka.start()) { ... }}.
 */
public final class TestKafka implements AutoCloseable, BeforeAllCallback, AfterAllCallback {
    /** Kafka's own default of {@code message.max.bytes}. */
    private static final int KAFKA_DEFAULT_MESSAGE_MAX_BYTES = 1024 * 1024 + 12;

    private final Consumer<Map<String, Object>> customize;
    private EmbeddedKafkaBroker broker; // null before the class's first test and after its last

    private TestKafka(Consumer<Map<String, Object>> customize) {
        this.customize = customize;
    }

    /** Starts a broker and waits until it is ready. */
    public static TestKafka start() {
        return start(properties -> { });
    }

    /**
     * Starts a broker whose server properties {@code customize} changes after the kit's own, e.g. more listeners
     * (the PLAINTEXT one stays the {@link #bootstrapServers()}; free ports: {@link EmbeddedKafkaBroker#freePort()}).
     */
    public static TestKafka start(Consumer<Map<String, Object>> customize) {
        TestKafka kafka = new TestKafka(customize);
        kafka.startTemporary();
        return kafka;
    }

    /** A broker shared by the tests of a class: register it with {@code @RegisterExtension} on a static field. */
    public static TestKafka perClass() {
        return perClass(properties -> { });
    }

    /** As {@link #perClass()}, the server properties changed by {@code customize} as in {@link #start(Consumer)}. */
    public static TestKafka perClass(Consumer<Map<String, Object>> customize) {
        return new TestKafka(customize);
    }

    private void startTemporary() {
        broker = EmbeddedKafkaBroker.startTemporary(properties -> {
            properties.put("message.max.bytes", Integer.toString(KAFKA_DEFAULT_MESSAGE_MAX_BYTES));
            properties.put("group.min.session.timeout.ms", "2000");
            customize.accept(properties);
        });
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        startTemporary();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        close();
    }

    /** host:port of the broker's PLAINTEXT listener. */
    public String bootstrapServers() {
        return broker().bootstrapServers();
    }

    /**
     * The broker itself.
     *
     * @throws IllegalStateException outside the tests of the class that registered the kit
     */
    public EmbeddedKafkaBroker broker() {
        if (broker == null) {
            throw new IllegalStateException("the test broker is not running: register TestKafka.perClass() with"
                    + " @RegisterExtension on a static field, or start one with TestKafka.start()");
        }
        return broker;
    }

    /** A new Admin client; the caller closes it. */
    public Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()));
    }

    public void createTopic(String topic, int partitions) throws Exception {
        createTopic(topic, partitions, Map.of());
    }

    /** A topic with these topic-level settings, e.g. {@code max.message.bytes}. */
    public void createTopic(String topic, int partitions, Map<String, String> configs) throws Exception {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1).configs(configs))).all().get();
            EmbeddedKafkaBroker.awaitLeaders(admin, List.of(topic), partitions, Duration.ofSeconds(30));
        }
    }

    /**
     * An idempotent producer of raw bytes (acks=all), its requests up to 16 MiB (what a topic accepts is the topic's
     * say); the caller closes it.
     */
    public KafkaProducer<byte[], byte[]> producer() {
        return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 120_000, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 << 20),
                new ByteArraySerializer(), new ByteArraySerializer());
    }

    /**
     * Every record of {@code topic} (all partitions, from the beginning to the end offsets as of this call), without
     * a group and uncommitted transactions' records included: what a plain reader of the topic sees, duplicates
     * included.
     */
    public List<ConsumerRecord<byte[], byte[]>> readAll(String topic, Duration timeout) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(
                Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic, timeout).stream()
                    .map(info -> new TopicPartition(topic, info.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
            List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " to its end " + end + " in " + timeout);
                }
                consumer.poll(Duration.ofMillis(100)).forEach(records::add);
            }
            return records;
        }
    }

    /**
     * Reads every partition of {@code topic} from the beginning (no consumer group: partitions are assigned; only
     * committed records) until {@code done} holds for the records read so far, or fails after {@code timeout}; waits
     * for a topic that the code under test has not created yet. Records are in partition order, then offset order.
     */
    public <V> List<ConsumerRecord<String, V>> readUntil(String topic, Deserializer<V> values,
                                                          Predicate<List<ConsumerRecord<String, V>>> done,
                                                          Duration timeout) {
        Map<String, Object> config = Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers(),
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<String, V> consumer = new KafkaConsumer<>(config, new StringDeserializer(), values)) {
            long deadline = System.nanoTime() + timeout.toNanos();
            List<TopicPartition> partitions = List.of();
            while (partitions.isEmpty()) { // a topic the code under test creates may not exist yet
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("after " + timeout + ", topic " + topic + " does not exist");
                }
                partitions = consumer.partitionsFor(topic, Duration.ofSeconds(5)).stream()
                        .map(info -> new TopicPartition(topic, info.partition())).toList();
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            List<ConsumerRecord<String, V>> records = new ArrayList<>();
            while (!done.test(records)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("after " + timeout + ", topic " + topic + " holds " + records.size()
                            + " records, not what the test waits for");
                }
                consumer.poll(Duration.ofMillis(100)).forEach(records::add);
            }
            records.sort(Comparator.<ConsumerRecord<String, V>>comparingInt(ConsumerRecord::partition)
                    .thenComparingLong(ConsumerRecord::offset));
            return records;
        }
    }

    /** Stops the broker (clients see it gone), waits {@code down}, starts it again and waits until it is ready. */
    public void restartBroker(Duration down) throws InterruptedException {
        broker().restart(down);
    }

    /** Stops the broker (clients see it gone); {@link #startBroker()} brings it back on the same address. */
    public void stopBroker() {
        broker().stop();
    }

    /** Starts the broker {@link #stopBroker()} stopped and waits until it is ready. */
    public void startBroker() {
        broker().startAgain();
    }

    /** Stops the broker and deletes its data. */
    @Override
    public void close() {
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }
}
