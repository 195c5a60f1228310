package io.streamtrain.broker;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class EmbeddedKafkaBrokerTest {

    @Test
    void shouldAcceptProduceAndConsumeKeepItsRecordsAcrossARestartAndDeleteItsDataWhenClosed() throws Exception {
        Path data;
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.startTemporary()) {
            data = broker.dataDirectory();
            assertTrue(broker.bootstrapServers().startsWith("127.0.0.1:"), broker.bootstrapServers());
            broker.createTopics(List.of("greetings"), 1);
            produce(broker.bootstrapServers(), "greetings", "hello", "world");
            assertEquals(List.of("hello", "world"), consume(broker.bootstrapServers(), "greetings", 2));
            broker.restart(Duration.ofMillis(100));
            produce(broker.bootstrapServers(), "greetings", "again");
            assertEquals(List.of("again"), consume(broker.bootstrapServers(), "greetings", 1),
                    "after a restart on the same address, the group goes on from its committed offset");
        }
        assertFalse(Files.exists(data), "a temporary broker deletes its data on close: " + data);
    }

    @Test
    void shouldReturnFromCreateTopicsOnlyWhenEveryPartitionsLeaderServesRequests() throws Exception {
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.startTemporary();
             Admin noRetries = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers(),
                     AdminClientConfig.RETRIES_CONFIG, 0))) {
            for (int round = 0; round < 20; round++) {
                String topic = "fresh-" + round;
                broker.createTopics(List.of(topic), 4);
                Map<TopicPartition, OffsetSpec> ends = new HashMap<>();
                for (int p = 0; p < 4; p++) {
                    ends.put(new TopicPartition(topic, p), OffsetSpec.latest());
                }
                // an admin that never retries: NOT_LEADER_OR_FOLLOWER or an unknown partition fails the call
                assertEquals(4, noRetries.listOffsets(ends).all().get().size(), topic);
            }
        }
    }

    @Test
    void shouldKeepTopicsAndRecordsAcrossRestartsWhenDataDirectoryIsPersistent(@TempDir Path data) throws Exception {
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(data, 0, false)) {
            broker.createTopics(List.of("kept"), 1);
            produce(broker.bootstrapServers(), "kept", "before restart");
        }
        assertTrue(Files.exists(data.resolve("kraft-combined-logs/meta.properties")));
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(data, 0, false);
             Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()))) {
            Set<String> topics = admin.listTopics().names().get();
            assertTrue(topics.contains("kept"), "topics after restart: " + topics);
            assertEquals(List.of("before restart"), consume(broker.bootstrapServers(), "kept", 1));
        }
    }

    private static void produce(String bootstrapServers, String topic, String... values) throws Exception {
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(Map.of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers), new StringSerializer(), new StringSerializer())) {
            for (String value : values) {
                producer.send(new ProducerRecord<>(topic, value)).get();
            }
        }
    }

    private static List<String> consume(String bootstrapServers, String topic, int count) {
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.GROUP_ID_CONFIG, "test-" + topic,
                ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"), new StringDeserializer(), new StringDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (values.size() < count && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    values.add(record.value());
                }
            }
        }
        return values;
    }
}
