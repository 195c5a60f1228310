package io.streamtrain.monitor;

import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.schemas.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The trainer's topics on a {@link TestKafka} broker, written as the trainer writes them (metrics, samples, dead
 * letters through the project's serdes; stand-ins for token batches): what the monitor reads.
 */
final class TrainerTopics {
    private final TestKafka kafka;

    TrainerTopics(TestKafka kafka) {
        this.kafka = kafka;
    }

    /** Topics of 2 partitions each. */
    void createTopics(String... topics) throws Exception {
        for (String topic : topics) {
            kafka.createTopic(topic, 2);
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
        properties.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        @SuppressWarnings("unchecked")
        Serializer<K> keys = (Serializer<K>) (Serializer<?>) new StringSerializer();
        return new KafkaProducer<>(properties, keys, values);
    }
}
