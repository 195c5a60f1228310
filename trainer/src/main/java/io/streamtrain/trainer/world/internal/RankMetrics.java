package io.streamtrain.trainer.world.internal;

import io.streamtrain.model.StepResult;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Rank 0's TrainingMetrics records, keyed by run and step like the one-process trainer's: the loss and accuracy of
 * the global batch, its tokens, device "W ranks x ...", the source of rank 0's batch (or none). Sent without
 * waiting; a crash may lose the last ones (they are not re-sent as the one-process trainer's).
 */
public final class RankMetrics implements AutoCloseable {
    private final KafkaProducer<String, byte[]> producer;
    private final String topic;
    private final String sourceTopic;
    private final String runId;
    private final String backend;
    private final String device;
    private long lastStepNanos;

    public RankMetrics(KafkaClientSettings clients, String topic, String sourceTopic, String runId, String backend,
                       String device) {
        Map<String, Object> properties = clients.clientConfig();
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        this.producer = new KafkaProducer<>(properties, new StringSerializer(), new ByteArraySerializer());
        this.topic = topic;
        this.sourceTopic = sourceTopic;
        this.runId = runId;
        this.backend = backend;
        this.device = device;
    }

    /**
     * The record of {@code step}, just taken on {@code globalRows} rows of T tokens over {@code ranks} ranks, rank 0's
     * all-reduce taking {@code allReduceMillis} (null: not measured); {@code source} is rank 0's batch or null.
     */
    public void emit(long step, StepResult result, int globalRows, int T, int ranks, Double allReduceMillis,
                     ConsumerRecord<byte[], byte[]> source) {
        long stepTokens = (long) globalRows * T;
        long now = System.nanoTime();
        double seconds = lastStepNanos == 0 ? Double.NaN : (now - lastStepNanos) / 1e9;
        lastStepNanos = now;
        TrainingMetrics record = TrainingMetrics.newBuilder()
                .setRunId(runId).setStep(step).setTime(Instant.now())
                .setLoss(result.loss()).setAccuracy(result.accuracy()).setPerplexity(Math.exp(result.loss()))
                .setLearningRate(result.learningRate()).setGradientNorm(result.gradientNorm())
                .setTokens(stepTokens).setTokensPerSecond(Double.isNaN(seconds) ? 0 : stepTokens / seconds)
                .setWaitMillis(0).setComputeMillis(Double.isNaN(seconds) ? 0 : seconds * 1e3).setEmitMillis(0)
                .setBackend(backend)
                .setDevice(device)
                .setSourceTopic(sourceTopic)
                .setSourcePartition(source == null ? -1 : source.partition())
                .setSourceOffset(source == null ? -1 : source.offset())
                .setRanks(ranks).setGlobalRows(globalRows).setAllReduceMillis(allReduceMillis)
                .build();
        producer.send(new ProducerRecord<>(topic, Topics.runStepKey(runId, step),
                AvroSerdes.trainingMetrics().serializer().serialize(topic, record)));
    }

    /** Flushes the last records (waits up to 30 s). */
    @Override
    public void close() {
        producer.close(Duration.ofSeconds(30));
    }
}
