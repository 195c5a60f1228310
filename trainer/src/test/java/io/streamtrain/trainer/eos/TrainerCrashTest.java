package io.streamtrain.trainer.eos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.trainer.internal.ModelStart;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The exactly-once crash test, in the style of Kafka's {@code EosTestDriver}: a driver produces a known stream of
 * numbered batches; the trainer runs in a child JVM with a checkpoint every 2 steps and is killed with SIGKILL at
 * seeded random moments, three times, and restarted; then the broker is stopped and started again while the trainer
 * runs, and the rest of the stream is produced. The {@link ExactlyOnceVerifier} then proves from the final
 * checkpoint that every batch was applied exactly once, in order.
 */
class TrainerCrashTest {
    private static final int BATCHES = 40;
    private static final int BEFORE_BROKER_RESTART = 30;   // produced first; the rest after the broker restart
    private static final long SEED = 20261120L;
    private static final Duration STEP_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration BROKER_DOWN = Duration.ofMillis(500);

    @TempDir
    Path dir;

    @Test
    @Timeout(300)
    void shouldApplyEveryBatchExactlyOnceWhenTheTrainerIsKilledAndTheBrokerRestarts() throws Exception {
        Random random = new Random(SEED);
        String topic = "eos-batches";
        try (TestKafka cluster = TestKafka.start()) {
            cluster.createTopic(topic, 1);
            Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "eos-trainer",
                    topic, dir.resolve("run"), TrainerConfig.CHECKPOINT_EVERY_STEPS, "2",
                    TrainerConfig.MAX_STEPS, Integer.toString(BATCHES), TrainerConfig.RUN_ID, "eos-run");
            CheckpointStore checkpoints = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 3);
            List<String> events = new ArrayList<>();

            Path logs = Path.of("target", "eos-logs");   // kept after the test, for a failure's post-mortem
            Files.createDirectories(logs);
            Thread driver = produceInBackground(cluster, topic, 0, BEFORE_BROKER_RESTART, 15);
            int run = 1;
            ChildTrainer trainer = ChildTrainer.start(config, logs.resolve("trainer-" + run + ".log"));
            int[] killAfterCheckpoint = {4 + random.nextInt(5), 12 + random.nextInt(5), 20 + random.nextInt(5)};
            for (int checkpointStep : killAfterCheckpoint) {
                awaitCheckpoint(checkpoints, checkpointStep, trainer);
                long delay = random.nextInt(150);
                Thread.sleep(delay);
                trainer.kill();
                events.add("SIGKILL " + delay + " ms after checkpoint step >= " + checkpointStep
                        + " (newest on disk: " + newestStep(checkpoints) + ")");
                run++;
                trainer = ChildTrainer.start(config, logs.resolve("trainer-" + run + ".log"));
            }
            driver.join();
            awaitCheckpoint(checkpoints, BEFORE_BROKER_RESTART - 2, trainer);
            long restartStart = System.nanoTime();
            cluster.restartBroker(BROKER_DOWN); // clients see it go at once: a longer outage checks nothing more
            events.add("broker restarted at checkpoint step " + newestStep(checkpoints) + " (down " + BROKER_DOWN.toMillis()
                    + " ms, back after " + (System.nanoTime() - restartStart) / 1_000_000 + " ms)");
            produceInBackground(cluster, topic, BEFORE_BROKER_RESTART, BATCHES, 0).join();
            int exit = trainer.awaitExit(Duration.ofSeconds(120));
            assertEquals(0, exit, "the last trainer reaches max.steps and exits cleanly; log:\n" + trainer.logTail());
            System.out.println("crash test events: " + events);

            Checkpoint last = Checkpoints.read(checkpoints.newestFirst().get(0));
            assertEquals(List.of(), ExactlyOnceVerifier.countProblems(last, new TopicPartition(topic, 0), BATCHES),
                    "counts of the final checkpoint; events " + events);
            float[] reference = ExactlyOnceVerifier.referenceWeights(
                    ModelStart.trainingOptions(new TrainerConfig(config)), new TrainerConfig(config).seed(), BATCHES);
            assertTrue(Arrays.equals(reference, last.parameters()), "the weights equal, bit for bit, those of a"
                    + " model trained once on batches 0.." + (BATCHES - 1) + " in order; events " + events);
            String checksumKey = RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + NumberedBatches.DATASET;
            long expectedChecksum = ExactlyOnceVerifier.checksum(LongStream.range(0, BATCHES).boxed().toList());
            assertEquals(Long.toString(expectedChecksum), last.metadata().get(checksumKey),
                    "the trainer's order-sensitive checksum of the applied batch ids; events " + events);
            Map<Long, Long> idByStep = ExactlyOnceVerifier.batchIdsByStep(cluster.bootstrapServers(),
                    config.get(TrainerConfig.METRICS_TOPIC), "eos-run", Duration.ofSeconds(30));
            assertEquals(List.of(), ExactlyOnceVerifier.lineageProblems(idByStep), "batches behind the steps");
            List<Long> missing = ExactlyOnceVerifier.missingSteps(idByStep, BATCHES);
            System.out.println("crash test: metrics records of " + (BATCHES - missing.size()) + " of " + BATCHES
                    + " steps on the metrics topic; missing: " + missing);
            assertEquals(List.of(), missing, "steps without a metrics record (a crash lost it and the restart did not"
                    + " send it again); events " + events);
            for (int i = 1; i <= run; i++) {
                Path log = logs.resolve("trainer-" + i + ".log");
                assertFalse(Files.readString(log).contains("Unsupported offset metadata"), "Kafka Streams warns of"
                        + " offset metadata it did not write: the trainer must commit without any; see " + log);
            }
        }
    }

    /** A driver thread producing batches {@code from..to-1} in order, {@code pauseMillis} apart. */
    private static Thread produceInBackground(TestKafka cluster, String topic, int from, int to, long pauseMillis) {
        Thread driver = new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
                for (long sequence = from; sequence < to; sequence++) {
                    producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(),
                            NumberedBatches.value(topic, sequence))).get();
                    Thread.sleep(pauseMillis);
                }
            } catch (Exception e) {
                throw new IllegalStateException("the driver failed", e);
            }
        }, "eos-driver");
        driver.start();
        return driver;
    }

    private static void awaitCheckpoint(CheckpointStore checkpoints, long step, ChildTrainer trainer)
            throws Exception {
        long deadline = System.nanoTime() + STEP_TIMEOUT.toNanos();
        while (newestStep(checkpoints) < step) {
            if (!trainer.isAlive()) {
                throw new AssertionError("the trainer exited before checkpoint step " + step + "; its log:\n"
                        + trainer.logTail());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no checkpoint of step " + step + " within " + STEP_TIMEOUT
                        + " (newest: " + newestStep(checkpoints) + "); the trainer's log:\n" + trainer.logTail());
            }
            Thread.sleep(10);
        }
    }

    /** The step of the newest checkpoint file, from its name {@code step-<12 digits>.safetensors}; -1 when none. */
    private static long newestStep(CheckpointStore checkpoints) throws Exception {
        List<Path> files = checkpoints.newestFirst();
        return files.isEmpty() ? -1 : Long.parseLong(files.get(0).getFileName().toString().substring(5, 17));
    }
}
