package io.streamtrain.trainer.internal;

import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.RunLedger;
import java.io.PrintStream;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * The metrics and sample records of the most recent {@value #STEPS_KEPT} steps, kept in every checkpoint so that a
 * restart can send them again. Why: a record still in the Kafka Streams producer's buffer when the process is killed
 * is lost, and when its step was already checkpointed the restarted trainer does not train that step again. Which
 * records are at risk depends on the producer (linger, a broker outage), not on the checkpoint cadence, so the
 * window is in steps, not "since the previous checkpoint". Re-sent copies are the same bytes under the same key
 * ({@link Topics#runStepKey}), so they replace any copy that did arrive.
 *
 * <p>Checkpoint metadata: {@code emitted.metrics.<step>} and {@code emitted.samples.<step>[<suffix>]} (the suffix of
 * the record key after {@code <run>/<step>}, e.g. {@code /fixed-prompt}), each the record's Avro single-object bytes
 * ({@link AvroSerdes}) in base64. Not thread-safe: {@code ResidentModel} guards it.
 */
public final class EmittedRecords {
    /** Prefix of every metadata key of this class. */
    public static final String KEY_PREFIX = RunLedger.RESEND_KEY_PREFIX;
    public static final String METRICS_KEY_PREFIX = KEY_PREFIX + "metrics.";
    public static final String SAMPLES_KEY_PREFIX = KEY_PREFIX + "samples.";
    /** Steps whose records are kept: bounds the checkpoint metadata (about 60 KB of metrics records). */
    public static final int STEPS_KEPT = 256;

    /** One record as forwarded: its kind (metrics or sample), run id, step, time and key, and its value's bytes. */
    public record Emitted(boolean metrics, String runId, long step, Instant time, String key, byte[] value) {
        /** The metadata key: {@code emitted.metrics.<step>} or {@code emitted.samples.<step>[<key suffix>]}. */
        String metadataKey() {
            return (metrics ? METRICS_KEY_PREFIX : SAMPLES_KEY_PREFIX) + step
                    + key.substring(Topics.runStepKey(runId, step).length());
        }

        /** The record to send: to {@code metricsTopic} or {@code samplesTopic} by kind, its key, time and bytes. */
        public ProducerRecord<String, byte[]> toRecord(String metricsTopic, String samplesTopic) {
            return new ProducerRecord<>(metrics ? metricsTopic : samplesTopic, null, time.toEpochMilli(), key, value);
        }
    }

    private final Map<String, Emitted> byMetadataKey = new TreeMap<>();
    private Emitted newestMetrics; // the newest metrics record added, kept by clear(): a stop's evaluation completes it

    /**
     * Keeps {@code metrics}, forwarded under {@code key} as {@code value} (its bytes, serialized once by the sender);
     * forgets the records of steps out of the window.
     */
    public void add(String key, TrainingMetrics metrics, byte[] value) {
        add(new Emitted(true, metrics.getRunId(), metrics.getStep(), metrics.getTime(), key, value));
    }

    /** Keeps {@code sample}, forwarded under {@code key} as {@code value}, like the metrics records. */
    public void add(String key, TextSample sample, byte[] value) {
        add(new Emitted(false, sample.getRunId(), sample.getStep(), sample.getTime(), key, value));
    }

    private void add(Emitted emitted) {
        if (emitted.metrics()) {
            newestMetrics = emitted;
        }
        byMetadataKey.put(emitted.metadataKey(), emitted);
        byMetadataKey.values().removeIf(kept -> kept.step() <= emitted.step() - STEPS_KEPT);
    }

    /** The records kept, as checkpoint metadata entries. */
    public void writeTo(Map<String, String> metadata) {
        byMetadataKey.forEach((key, emitted) -> metadata.put(key, Base64.getEncoder().encodeToString(emitted.value())));
    }

    /**
     * The records kept in a checkpoint's {@code metadata} that belong to run {@code runId} (a checkpoint that
     * {@code replay --new-run} copied still holds those of the parent run: they are not this run's to send). An
     * entry that does not decode is left out, and {@code log} says which: these records only serve a re-send.
     */
    public static EmittedRecords of(Map<String, String> metadata, String runId, PrintStream log) {
        EmittedRecords records = new EmittedRecords();
        metadata.forEach((key, value) -> {
            if (!key.startsWith(METRICS_KEY_PREFIX) && !key.startsWith(SAMPLES_KEY_PREFIX)) {
                return;
            }
            try {
                Emitted emitted = decode(key, Base64.getDecoder().decode(value));
                if (emitted.runId().equals(runId)) {
                    records.byMetadataKey.put(key, emitted);
                }
            } catch (RuntimeException e) {
                log.println("checkpoint metadata " + key + " is not a base64 Avro metrics or sample record ("
                        + e.getMessage() + "); it is not sent again");
            }
        });
        return records;
    }

    private static Emitted decode(String key, byte[] bytes) {
        if (key.startsWith(METRICS_KEY_PREFIX)) {
            TrainingMetrics metrics = AvroSerdes.trainingMetrics().deserializer().deserialize(null, bytes);
            return new Emitted(true, metrics.getRunId(), metrics.getStep(), metrics.getTime(),
                    Topics.runStepKey(metrics.getRunId(), metrics.getStep()), bytes);
        }
        TextSample sample = AvroSerdes.textSample().deserializer().deserialize(null, bytes);
        String suffix = key.substring(SAMPLES_KEY_PREFIX.length() + Long.toString(sample.getStep()).length());
        return new Emitted(false, sample.getRunId(), sample.getStep(), sample.getTime(),
                Topics.runStepKey(sample.getRunId(), sample.getStep()) + suffix, bytes);
    }

    /**
     * The metrics record of {@code evaluation}'s step completed with its figures ({@code evalLoss}, ...), for an
     * evaluation made after that record was sent (the one at a stop, once the step's record is out): the same key,
     * time and training figures, so that it replaces the first wherever records are kept by key (the monitor, a
     * compacted topic), and kept in place of the first, so that a re-send sends the completed one. Empty when the
     * newest metrics record added is not of that step (or carries an evaluation already).
     */
    public Optional<Emitted> completeWith(Evaluation evaluation) {
        if (newestMetrics == null || newestMetrics.step() != evaluation.step()) {
            return Optional.empty();
        }
        TrainingMetrics sent = AvroSerdes.trainingMetrics().deserializer().deserialize(null, newestMetrics.value());
        if (sent.getEvalLoss() != null) {
            return Optional.empty();
        }
        TrainingMetrics.Builder completed = TrainingMetrics.newBuilder(sent);
        evaluation.addTo(completed);
        byte[] value = AvroSerdes.trainingMetrics().serializer().serialize(null, completed.build());
        Emitted emitted = new Emitted(true, newestMetrics.runId(), newestMetrics.step(), newestMetrics.time(),
                newestMetrics.key(), value);
        add(emitted);
        return Optional.of(emitted);
    }

    /** Forgets every record kept (they were delivered). */
    public void clear() {
        byMetadataKey.clear();
    }

    public boolean isEmpty() {
        return byMetadataKey.isEmpty();
    }

    /** The records kept, by step. */
    public List<Emitted> records() {
        return byMetadataKey.values().stream().sorted(Comparator.comparingLong(Emitted::step)).toList();
    }

    /**
     * Sends every record kept to {@code metricsTopic} or {@code samplesTopic}, with its key and original time, and
     * waits until the broker has them all.
     *
     * @return the number of records sent
     * @throws IllegalStateException when one cannot be sent
     */
    public int sendTo(Producer<String, byte[]> producer, String metricsTopic, String samplesTopic) {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        for (Emitted emitted : records()) {
            sent.add(producer.send(emitted.toRecord(metricsTopic, samplesTopic)));
        }
        producer.flush();
        for (Future<RecordMetadata> future : sent) {
            try {
                future.get();
            } catch (ExecutionException | InterruptedException e) {
                if (e instanceof InterruptedException) {
                    Thread.currentThread().interrupt();
                }
                throw new IllegalStateException("cannot re-send the checkpoint's metrics and sample records to "
                        + metricsTopic + " and " + samplesTopic + ": " + e.getMessage()
                        + "; is the broker reachable?", e);
            }
        }
        return sent.size();
    }
}
