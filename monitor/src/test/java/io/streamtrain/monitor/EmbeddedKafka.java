package io.streamtrain.monitor;

import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/** A real single-node KRaft broker in-process (loopback, temporary directory) and producers of the trainer's records. */
final class EmbeddedKafka implements AutoCloseable {
    private final KafkaClusterTestKit cluster;

    private EmbeddedKafka(KafkaClusterTestKit cluster) {
        this.cluster = cluster;
    }

    static EmbeddedKafka start() throws Exception {
        KafkaClusterTestKit cluster = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
            .setCombined(true).setNumBrokerNodes(1).setNumControllerNodes(1).build())
            // One broker: the internal topics cannot have the default 3 replicas.
            .setConfigProp("offsets.topic.replication.factor", "1")
            .setConfigProp("offsets.topic.num.partitions", "1")
            .setConfigProp("transaction.state.log.replication.factor", "1")
            .setConfigProp("transaction.state.log.min.isr", "1")
            .setConfigProp("group.initial.rebalance.delay.ms", "0")
            .build();
        cluster.format();
        cluster.startup();
        cluster.waitForReadyBrokers();
        return new EmbeddedKafka(cluster);
    }

    String bootstrapServers() {
        return cluster.bootstrapServers();
    }

    Admin admin() {
        return cluster.admin();
    }

    void createTopics(String... topics) throws Exception {
        try (Admin admin = admin()) {
            admin.createTopics(java.util.Arrays.stream(topics).map(topic -> new NewTopic(topic, 2, (short) 1)).toList()).all().get();
        }
    }

    /** Sends metrics and samples keyed by {@link Topics#runStepKey} through the project's Avro serdes. */
    void send(Collection<TrainingMetrics> metrics, Collection<TextSample> samples) {
        send(Topics.METRICS, Topics.SAMPLES, metrics, samples);
    }

    void send(String metricsTopic, String samplesTopic, Collection<TrainingMetrics> metrics, Collection<TextSample> samples) {
        try (KafkaProducer<String, TrainingMetrics> metricsProducer = producer(AvroSerdes.trainingMetrics().serializer());
             KafkaProducer<String, TextSample> samplesProducer = producer(AvroSerdes.textSample().serializer())) {
            for (TrainingMetrics m : metrics) {
                metricsProducer.send(new ProducerRecord<>(metricsTopic, Topics.runStepKey(m.getRunId(), m.getStep()), m));
            }
            for (TextSample s : samples) {
                samplesProducer.send(new ProducerRecord<>(samplesTopic, Topics.runStepKey(s.getRunId(), s.getStep()), s));
            }
        }
    }

    /** A dead letter as the Kafka Streams dead-letter queue writes it: the original bytes, the reason in headers. */
    void sendDeadLetter(String reason, long offset) {
        try (KafkaProducer<byte[], byte[]> producer = producer(new ByteArraySerializer())) {
            ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(Topics.DEAD_LETTERS, null, new byte[] {1, 2, 3});
            record.headers().add("__streams.errors.exception", "io.streamtrain.trainer.BadBatchException".getBytes(StandardCharsets.UTF_8));
            record.headers().add("__streams.errors.message", reason.getBytes(StandardCharsets.UTF_8));
            record.headers().add("__streams.errors.topic", Topics.TOKEN_BATCHES.getBytes(StandardCharsets.UTF_8));
            record.headers().add("__streams.errors.partition", "0".getBytes(StandardCharsets.UTF_8));
            record.headers().add("__streams.errors.offset", Long.toString(offset).getBytes(StandardCharsets.UTF_8));
            producer.send(record);
        }
    }

    /** Sends {@code count} opaque records to a topic (stand-ins for token batches, for the lag). */
    void sendBytes(String topic, int count) {
        try (KafkaProducer<byte[], byte[]> producer = producer(new ByteArraySerializer())) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, 0, null, new byte[] {(byte) i}));
            }
        }
    }

    private <K, V> KafkaProducer<K, V> producer(Serializer<V> values) {
        Properties properties = new Properties();
        properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        @SuppressWarnings("unchecked")
        Serializer<K> keys = (Serializer<K>) (Serializer<?>) new StringSerializer();
        return new KafkaProducer<>(properties, keys, values);
    }

    @Override
    public void close() throws Exception {
        cluster.close();
    }
}
