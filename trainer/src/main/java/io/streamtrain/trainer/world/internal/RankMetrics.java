package io.streamtrain.trainer.world.internal;

import io.streamtrain.model.StepResult;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.TrainerListener;
import io.streamtrain.trainer.internal.EmittedRecords;
import java.io.PrintStream;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Rank 0's TrainingMetrics and TextSample records, keyed by run and step like the one-process trainer's: the loss and
 * accuracy of the global batch, its tokens, device "W ranks x ...", the source of rank 0's batch (or none), the spike
 * and the held-out evaluation of the step. Each is Avro-serialized once, sent without waiting, told to the listener
 * (the console), and its bytes kept in an {@link EmittedRecords} buffer that the world's checkpoints carry, so that a
 * restarted world sends again those a crash lost in the producer's buffer, as the one-process trainer does.
 */
public final class RankMetrics implements AutoCloseable {
    private final KafkaProducer<String, byte[]> producer;
    private final String topic;
    private final String samplesTopic;
    private final String sourceTopic;
    private final String runId;
    private final String backend;
    private final String device;
    private final EmittedRecords emitted;
    private final TrainerListener listener;
    private long lastStepNanos;
    private volatile Exception sendFailure; // the first record the producer could not deliver

    /**
     * @param restored the restored checkpoint's metadata (its re-send buffer; empty for a new model)
     * @param listener told of every record sent
     */
    public RankMetrics(KafkaClientSettings clients, String topic, String samplesTopic, String sourceTopic, String runId,
                       String backend, String device, Map<String, String> restored, TrainerListener listener,
                       PrintStream log) {
        Map<String, Object> properties = clients.clientConfig();
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        properties.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        this.producer = new KafkaProducer<>(properties, new StringSerializer(), new ByteArraySerializer());
        this.topic = topic;
        this.samplesTopic = samplesTopic;
        this.sourceTopic = sourceTopic;
        this.runId = runId;
        this.backend = backend;
        this.device = device;
        this.emitted = EmittedRecords.of(restored, runId, log);
        this.listener = listener;
    }

    /**
     * Sends again the restored checkpoint's metrics and sample records (those of its last
     * {@value EmittedRecords#STEPS_KEPT} steps), with their keys and times, and waits for the broker: a crash may
     * have lost some of them, and their steps will not be trained again. Call before training resumes.
     *
     * @return how many were sent
     */
    public int resend() {
        return emitted.sendTo(producer, topic, samplesTopic);
    }

    /**
     * The record of {@code step}, just taken on {@code globalRows} rows of T tokens over {@code ranks} ranks, rank 0's
     * all-reduce taking {@code allReduceMillis} (null: not measured); {@code source} is rank 0's batch or null;
     * {@code spike} what was a spike in it (null: nothing); {@code evaluation} the step's held-out evaluation.
     *
     * @return the key it was sent under, {@code <run>/<step>}
     */
    public String emit(long step, StepResult result, int globalRows, int T, int ranks, Double allReduceMillis,
                       ConsumerRecord<byte[], byte[]> source, String spike, Optional<Evaluation> evaluation) {
        long stepTokens = (long) globalRows * T;
        long now = System.nanoTime();
        double seconds = lastStepNanos == 0 ? Double.NaN : (now - lastStepNanos) / 1e9;
        lastStepNanos = now;
        TrainingMetrics.Builder builder = TrainingMetrics.newBuilder()
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
                .setSpike(spike);
        evaluation.ifPresent(e -> e.addTo(builder));
        TrainingMetrics record = builder.build();
        String key = Topics.runStepKey(runId, step);
        byte[] value = AvroSerdes.trainingMetrics().serializer().serialize(topic, record); // once: sent, kept
        producer.send(new ProducerRecord<>(topic, null, record.getTime().toEpochMilli(), key, value), this::sent);
        emitted.add(key, record, value);
        listener.onStep(record);
        return key;
    }

    /** Sends a sample record under {@code key}, as {@code value} (its Avro bytes), and keeps it for a re-send. */
    public void sample(String key, TextSample sample, byte[] value) {
        producer.send(new ProducerRecord<>(samplesTopic, null, sample.getTime().toEpochMilli(), key, value),
                this::sent);
        emitted.add(key, sample, value);
        listener.onSample(sample);
    }

    /**
     * Sends the stop's evaluation in its step's record, sent already without it: the same key and time, completed
     * with the held-out figures ({@link EmittedRecords#completeWith}), so that it replaces the first for a reader by
     * key, and kept in its place for a re-send until {@link #delivered}.
     */
    public void completeWith(Evaluation evaluation) {
        emitted.completeWith(evaluation)
                .ifPresent(completed -> producer.send(completed.toRecord(topic, samplesTopic), this::sent));
    }

    private void sent(RecordMetadata metadata, Exception e) {
        if (e != null && sendFailure == null) {
            sendFailure = e;
        }
    }

    /**
     * Waits until every record sent so far was delivered and, when none failed, forgets them: the next checkpoint (a
     * clean stop's final one) carries none to send again.
     */
    public void delivered() {
        producer.flush();
        if (sendFailure == null) {
            emitted.clear();
        }
    }

    /** The records kept for a re-send, as checkpoint metadata ({@code emitted.*}). */
    public void writeTo(Map<String, String> metadata) {
        emitted.writeTo(metadata);
    }

    /** Flushes the last records (waits up to 30 s). */
    @Override
    public void close() {
        producer.close(Duration.ofSeconds(30));
    }
}
