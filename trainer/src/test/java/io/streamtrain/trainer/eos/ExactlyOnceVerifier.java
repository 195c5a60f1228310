package io.streamtrain.trainer.eos;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.LongStream;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Proves from the final checkpoint that batches 0..N-1 were each applied exactly once, in order:
 * <ul>
 * <li>count: step, {@code batches.trained} and the last handled offset say N batches;</li>
 * <li>order: the checkpoint's {@code batches.checksum.<dataset>} must equal the rolling hash
 *     {@code h = 31 h + id} of 0..N-1; and every step 1..N must have a metrics record whose newest copy (by its
 *     (run, step) key) names batch step - 1 as its source (here offset = batch id);</li>
 * <li>the model itself: its weights must equal, bit for bit, those of a reference model trained once on batches
 *     0..N-1 in order on the same CPU backend. A batch lost, repeated or reordered changes them.</li>
 * </ul>
 */
final class ExactlyOnceVerifier {
    private ExactlyOnceVerifier() {}

    /** {@code h = 31 h + id} over ids in order, from h = 0: what {@code batches.checksum.<dataset>} must say. */
    static long checksum(List<Long> ids) {
        long h = 0;
        for (long id : ids) {
            h = 31 * h + id;
        }
        return h;
    }

    /** The reference: a fresh model of the trainer's seed, trained once on each batch 0..count-1 in order. */
    static float[] referenceWeights(TrainingOptions options, long seed, int count) {
        try (Gpt gpt = Gpt.initialize(GptConfig.preset("tiny", NumberedBatches.identity().vocabularySize()),
                new CpuKernels(1), options, seed)) {
            for (long sequence = 0; sequence < count; sequence++) {
                gpt.trainStep(NumberedBatches.tokens(sequence), NumberedBatches.B, NumberedBatches.T);
            }
            return gpt.checkpoint(NumberedBatches.identity(), Map.of()).parameters();
        }
    }

    /**
     * The batch id (= source offset) behind each step of {@code runId}, from the newest metrics record of each step
     * (a step re-emitted after a crash replaces the earlier record, and so does a copy the restarted trainer re-sends
     * from its checkpoint).
     */
    static Map<Long, Long> batchIdsByStep(String bootstrapServers, String metricsTopic, String runId,
                                          Duration timeout) {
        Deserializer<TrainingMetrics> deserializer = AvroSerdes.trainingMetrics().deserializer();
        Map<Long, Long> idByStep = new TreeMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false), new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(metricsTopic).stream()
                    .map(info -> new TopicPartition(metricsTopic, info.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (partitions.stream().anyMatch(p -> consumer.position(p) < end.get(p))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + metricsTopic + " to its end in " + timeout);
                }
                for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    TrainingMetrics metrics = deserializer.deserialize(metricsTopic, record.value());
                    if (metrics.getRunId().equals(runId)) {
                        idByStep.put(metrics.getStep(), metrics.getSourceOffset());
                    }
                }
            }
        }
        return idByStep;
    }

    /** The steps 1..{@code count} that have no metrics record. */
    static List<Long> missingSteps(Map<Long, Long> idByStep, int count) {
        return LongStream.rangeClosed(1, count).filter(step -> !idByStep.containsKey(step)).boxed().toList();
    }

    /** Steps whose batch is not batch step - 1 (a repeated, skipped or reordered batch), as "step s: batch b". */
    static List<String> lineageProblems(Map<Long, Long> idByStep) {
        List<String> problems = new ArrayList<>();
        idByStep.forEach((step, id) -> {
            if (id != step - 1) {
                problems.add("step " + step + ": batch " + id + ", expected " + (step - 1));
            }
        });
        return problems;
    }

    /** Problems found in the final checkpoint's counts; empty when it says exactly {@code count} batches. */
    static List<String> countProblems(Checkpoint checkpoint, TopicPartition input, int count) {
        List<String> problems = new ArrayList<>();
        Map<String, String> metadata = checkpoint.metadata();
        if (checkpoint.step() != count) {
            problems.add("step " + checkpoint.step() + ", expected " + count);
        }
        if (!Long.toString(count).equals(metadata.get(RunLedger.BATCHES_TRAINED_KEY))) {
            problems.add(RunLedger.BATCHES_TRAINED_KEY + " " + metadata.get(RunLedger.BATCHES_TRAINED_KEY)
                    + ", expected " + count);
        }
        if (!Long.toString(count - 1).equals(metadata.get(RunLedger.offsetKey(input)))) {
            problems.add("last handled offset " + metadata.get(RunLedger.offsetKey(input)) + ", expected "
                    + (count - 1));
        }
        return problems;
    }
}
