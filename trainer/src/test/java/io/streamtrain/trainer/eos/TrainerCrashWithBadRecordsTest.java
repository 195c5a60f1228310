package io.streamtrain.trainer.eos;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.LongStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad records between good ones, and a child-JVM trainer without a configured run id SIGKILLed three times (the
 * first time before its first checkpoint), then left to finish: every good record is trained once, in order (the
 * final checkpoint's order checksum), every bad one is on the dead-letter topic exactly once, and the metrics topic
 * holds one run id with one record per step.
 */
class TrainerCrashWithBadRecordsTest {
    private static final int GOOD = 24;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    @Timeout(300)
    void everyRecordEndsInExactlyOnePlaceWhenTheTrainerIsKilledAndRestarted() throws Exception {
        Random random = new Random(20261202L);
        String topic = "crash-bad";
        try (TestKafka cluster = TestKafka.start()) {
            cluster.createTopic(topic, 1);
            Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "crash-bad",
                    topic, dir.resolve("run"), TrainerConfig.CHECKPOINT_EVERY_STEPS, "3",
                    TrainerConfig.MAX_STEPS, Integer.toString(GOOD));
            String metricsTopic = config.get(TrainerConfig.METRICS_TOPIC);
            CheckpointStore checkpoints = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 3);
            List<Long> badOffsets = new ArrayList<>();
            Path logs = Files.createDirectories(Path.of("target", "eos-logs"));
            List<String> events = new ArrayList<>();
            try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
                // the first batches only: the first kill comes before the first checkpoint
                produce(producer, topic, 0, 2, random, badOffsets);
                ChildTrainer trainer = ChildTrainer.start(config, logs.resolve("bad-1.log"));
                awaitRecords(cluster, metricsTopic, 1, trainer);
                trainer.kill();
                events.add("SIGKILL after the first metrics record, checkpoints on disk: " + checkpoints.newestFirst());
                produce(producer, topic, 2, GOOD, random, badOffsets);
                for (int run = 2; run <= 3; run++) {
                    trainer = ChildTrainer.start(config, logs.resolve("bad-" + run + ".log"));
                    awaitRecords(cluster, metricsTopic, 6 * run, trainer);
                    long delay = random.nextInt(200);
                    Thread.sleep(delay);
                    trainer.kill();
                    events.add("SIGKILL " + delay + " ms after metrics record " + 6 * run);
                }
                trainer = ChildTrainer.start(config, logs.resolve("bad-4.log"));
                assertEquals(0, trainer.awaitExit(Duration.ofSeconds(120)), "the last trainer reaches max.steps and"
                        + " exits cleanly; log:\n" + trainer.logTail());
            }
            System.out.println("crash test with bad records: " + events);

            Checkpoint last = Checkpoints.read(checkpoints.newestFirst().get(0));
            assertEquals(GOOD, last.step(), "events " + events);
            assertEquals(Long.toString(LongStream.range(0, GOOD).reduce(0, (h, id) -> 31 * h + id)),
                    last.metadata().get(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + NumberedBatches.DATASET),
                    "every good batch trained once, in order; events " + events);

            Map<String, TreeSet<Long>> stepsByRun = new TreeMap<>();
            Map<Long, Long> batchByStep = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> record : cluster.readAll(metricsTopic, STEP_TIMEOUT)) {
                TrainingMetrics metrics = AvroSerdes.trainingMetrics().deserializer().deserialize(metricsTopic,
                        record.value());
                stepsByRun.computeIfAbsent(metrics.getRunId(), run -> new TreeSet<>()).add(metrics.getStep());
                batchByStep.put(metrics.getStep(), metrics.getSourceOffset());
            }
            assertEquals(1, stepsByRun.size(), "one run id, though the first trainer died before any checkpoint: "
                    + stepsByRun.keySet() + "; events " + events);
            assertEquals(LongStream.rangeClosed(1, GOOD).boxed().toList(),
                    List.copyOf(stepsByRun.values().iterator().next()), "a metrics record for every step");

            Map<Long, Integer> letters = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> letter : cluster.readAll(config.get(TrainerConfig.DEAD_LETTERS_TOPIC),
                    STEP_TIMEOUT)) {
                long offset = Long.parseLong(new String(letter.headers().lastHeader("__streams.errors.offset").value(),
                        UTF_8));
                letters.merge(offset, 1, Integer::sum);
            }
            Map<Long, Integer> once = new TreeMap<>();
            badOffsets.forEach(offset -> once.put(offset, 1));
            assertEquals(once, letters, "each bad record dead-lettered exactly once (offset -> copies); events "
                    + events);
        }
    }

    /** Good batches {@code from..to-1}, each followed by a bad record (random bytes, or a tombstone). */
    private static void produce(KafkaProducer<byte[], byte[]> producer, String topic, int from, int to, Random random,
                                List<Long> badOffsets) throws Exception {
        for (int sequence = from; sequence < to; sequence++) {
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(),
                    NumberedBatches.value(topic, sequence))).get();
            if (sequence < to - 1 || to < GOOD) {
                byte[] bad = null;
                if (sequence % 3 != 2) {
                    bad = new byte[16 + random.nextInt(64)];
                    random.nextBytes(bad);
                }
                badOffsets.add(producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), bad)).get()
                        .offset());
            }
        }
    }

    /** Waits until {@code topic} holds {@code count} records, while the trainer lives. */
    private static void awaitRecords(TestKafka cluster, String topic, int count, ChildTrainer trainer)
            throws Exception {
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (cluster.readAll(topic, STEP_TIMEOUT).size() < count) {
            assertTrue(trainer.isAlive(), "the trainer exited early; log:\n" + trainer.logTail());
            assertTrue(System.nanoTime() < deadline, "no " + count + " records in " + topic + "; log:\n"
                    + trainer.logTail());
            Thread.sleep(200);
        }
    }
}
