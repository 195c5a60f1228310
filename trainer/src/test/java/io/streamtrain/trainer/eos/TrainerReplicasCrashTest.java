package io.streamtrain.trainer.eos;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.world.internal.RankLedger;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.LongStream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data parallelism keeps exactly once, on a 4-partition topic (one dataset per partition, each in order), the
 * trainers in child JVMs killed with SIGKILL mid-run: 2 CPU replicas in one process resumed with 1 replica, and a
 * world of 2 rank processes resumed as a new generation of 3 ranks. The final checkpoint counts every batch once, holds the
 * last offset of every partition and, per partition, the order-sensitive checksum of batches 0..n-1; in the world,
 * whose partitions 2 and 3 (one on each rank, then on ranks 2 and 0) carry one dataset name, also the world's
 * checksum per (dataset, partition).
 */
@Timeout(300)
class TrainerReplicasCrashTest {
    private static final int PARTITIONS = 4;
    private static final int PER_PARTITION = 6;
    private static final int BATCHES = PARTITIONS * PER_PARTITION;
    private static final int FIRST_HALF = 3; // batches per partition produced before the kill
    /** A dataset name carried by two partitions of different ranks (records produced by hand, not by produce). */
    private static final String SHARED = "shared";

    @RegisterExtension
    static final TestKafka cluster = TestKafka.perClass();

    @TempDir
    Path dir;

    @Test
    void shouldTrainEveryBatchOnceWhenTwoReplicasAreKilledAndOneReplicaResumes() throws Exception {
        String topic = "replicas-batches";
        cluster.createTopic(topic, PARTITIONS);
        Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "replicas-trainer",
                topic, dir.resolve("run"), TrainerConfig.CHECKPOINT_EVERY_STEPS, "2",
                TrainerConfig.MAX_STEPS, Integer.toString(BATCHES), TrainerConfig.RUN_ID, "replicas-run",
                TrainerConfig.CPU_THREADS, "2", TrainerConfig.REPLICAS, "2");
        CheckpointStore checkpoints = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 3);
        Path logs = Path.of("target", "eos-logs");
        Files.createDirectories(logs);

        produce(cluster, topic, 0, FIRST_HALF, TrainerReplicasCrashTest::dataset);
        ChildTrainer trainer = ChildTrainer.start(config, logs.resolve("replicas-1.log"));
        long killedAt = awaitCheckpoint(checkpoints, 6, trainer);
        assertTrue(trainer.isAlive(), "the first run waits for the rest of the stream");
        trainer.kill();
        assertTrue(Files.readString(logs.resolve("replicas-1.log")).contains("2 replicas"),
                "the first run trained with 2 replicas:\n" + trainer.logTail());

        config.put(TrainerConfig.REPLICAS, "1");
        trainer = ChildTrainer.start(config, logs.resolve("replicas-2.log"));
        produce(cluster, topic, FIRST_HALF, PER_PARTITION, TrainerReplicasCrashTest::dataset);
        assertEquals(0, trainer.awaitExit(Duration.ofSeconds(120)), "the second run reaches max.steps; log:\n"
                + trainer.logTail());

        Checkpoint last = Checkpoints.read(checkpoints.newestFirst().get(0));
        List<String> problems = problems(last, topic, TrainerReplicasCrashTest::dataset);
        if (last.step() != BATCHES) {
            problems.add("step " + last.step());
        }
        assertEquals(List.of(), problems, "killed after checkpoint step " + killedAt + "; final checkpoint "
                + last.metadata());
    }

    @Test
    void shouldTrainEveryBatchOnceWhenARankOfAWorldOfTwoIsKilledAndTheWorldRestartsWithThreeRanks() throws Exception {
        String topic = "world-batches";
        cluster.createTopic(topic, PARTITIONS);
        Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "world-trainer",
                topic, dir.resolve("run"), TrainerConfig.CHECKPOINT_EVERY_STEPS, "2",
                TrainerConfig.MAX_BATCHES, Integer.toString(BATCHES), TrainerConfig.RUN_ID, "world-run",
                TrainerConfig.WORLD_SIZE, "2", TrainerConfig.WORLD_HOST, "127.0.0.1",
                TrainerConfig.WORLD_WAIT_MS, "300", TrainerConfig.CONTROL_TOPIC, "world-control");
        CheckpointStore checkpoints = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 3);
        Path logs = Path.of("target", "eos-logs");
        Files.createDirectories(logs);
        produce(cluster, topic, 0, FIRST_HALF, TrainerReplicasCrashTest::worldDataset);
        ChildTrainer[] ranks = startWorld(config, 2, logs, "world-1");
        long killedAt = awaitCheckpoint(checkpoints, 4, ranks[0]);
        ranks[1].kill();
        assertEquals(1, ranks[0].awaitExit(Duration.ofSeconds(60)), "rank 0 stops when rank 1 dies; log:\n"
                + ranks[0].logTail());
        assertTrue(ranks[0].logTail().contains("lost rank 1"), ranks[0].logTail());

        // a world of 3: partitions 0,3 on rank 0, 1 on rank 1, 2 on rank 2 (2 and 3 were ranks 0 and 1's)
        ranks = startWorld(config, 3, logs, "world-2");
        produce(cluster, topic, FIRST_HALF, PER_PARTITION, TrainerReplicasCrashTest::worldDataset);
        for (int r = 0; r < ranks.length; r++) {
            assertEquals(0, ranks[r].awaitExit(Duration.ofSeconds(120)), "rank " + r + " reaches max.batches; log:\n"
                    + ranks[r].logTail());
        }
        Checkpoint last = Checkpoints.read(checkpoints.newestFirst().get(0));
        List<String> problems = problems(last, topic, TrainerReplicasCrashTest::worldDataset);
        long expected = ExactlyOnceVerifier.checksum(LongStream.range(0, PER_PARTITION).boxed().toList());
        for (int p = 0; p < PARTITIONS; p++) {
            String key = RankLedger.partitionChecksumKey(new TopicPartition(topic, p), worldDataset(p));
            if (!Long.toString(expected).equals(last.metadata().get(key))) {
                problems.add(key + " = " + last.metadata().get(key) + ", expected " + expected);
            }
        }
        if (!"2".equals(last.metadata().get("world.generation"))) {
            problems.add("generation " + last.metadata().get("world.generation"));
        }
        String lastKey = Topics.runStepKey("world-run", last.step());
        String metricsTopic = config.get(TrainerConfig.METRICS_TOPIC);
        List<TrainingMetrics> lastStep = cluster.readAll(metricsTopic, Duration.ofSeconds(30)).stream()
                .filter(r -> lastKey.equals(new String(r.key(), StandardCharsets.UTF_8)))
                .map(r -> AvroSerdes.trainingMetrics().deserializer().deserialize(metricsTopic, r.value())).toList();
        if (lastStep.isEmpty()) {
            problems.add("no metrics record " + lastKey + " from rank 0");
        } else if (lastStep.get(0).getRanks() != 3 || lastStep.get(0).getGlobalRows() == null
                || lastStep.get(0).getAllReduceMillis() == null) {
            problems.add("the last step's record lacks ranks, global rows or all-reduce time: " + lastStep.get(0));
        }
        assertEquals(List.of(), problems, "rank 1 killed after checkpoint step " + killedAt + "; final checkpoint "
                + last.metadata());
    }

    /** A world of {@code size} ranks, the highest first (it meets the dead generation's record), rank 0 last. */
    private static ChildTrainer[] startWorld(Map<String, String> config, int size, Path logs, String name)
            throws Exception {
        ChildTrainer[] ranks = new ChildTrainer[size];
        for (int r = size - 1; r >= 0; r--) {
            Map<String, String> rank = new java.util.HashMap<>(config);
            rank.put(TrainerConfig.WORLD_SIZE, Integer.toString(size));
            rank.put(TrainerConfig.WORLD_RANK, Integer.toString(r));
            ranks[r] = ChildTrainer.start(rank, logs.resolve(name + "-rank-" + r + ".log"));
        }
        return ranks;
    }

    /**
     * What is wrong with the final checkpoint's counts, offsets and per-dataset checksums (of the datasets of one
     * partition).
     */
    private static List<String> problems(Checkpoint last, String topic, IntFunction<String> dataset) {
        Map<String, String> metadata = last.metadata();
        List<String> problems = new ArrayList<>();
        if (!Integer.toString(BATCHES).equals(metadata.get(RunLedger.BATCHES_TRAINED_KEY))) {
            problems.add("batches trained " + metadata.get(RunLedger.BATCHES_TRAINED_KEY));
        }
        long expected = ExactlyOnceVerifier.checksum(LongStream.range(0, PER_PARTITION).boxed().toList());
        for (int p = 0; p < PARTITIONS; p++) {
            String offset = metadata.get(RunLedger.offsetKey(new TopicPartition(topic, p)));
            if (!Integer.toString(PER_PARTITION - 1).equals(offset)) {
                problems.add("partition " + p + ": last handled offset " + offset);
            }
            String checksum = metadata.get(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + dataset.apply(p));
            if (!dataset.apply(p).equals(SHARED) && !Long.toString(expected).equals(checksum)) {
                problems.add("partition " + p + ": checksum " + checksum + ", expected " + expected);
            }
        }
        return problems;
    }

    private static String dataset(int partition) {
        return "part-" + partition;
    }

    /** The world's datasets: partitions 0 and 1 their own, 2 and 3 (of ranks 0 and 1) {@value #SHARED}. */
    private static String worldDataset(int partition) {
        return partition < 2 ? dataset(partition) : SHARED;
    }

    /** Batches from..to-1 of every partition, in order, of the dataset named for the partition. */
    private static void produce(TestKafka cluster, String topic, int from, int to, IntFunction<String> dataset)
            throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
            for (long sequence = from; sequence < to; sequence++) {
                for (int p = 0; p < PARTITIONS; p++) {
                    TokenBatch batch = NumberedBatches.batch(sequence * PARTITIONS + p);
                    batch.setDataset(dataset.apply(p));
                    batch.setSequence(sequence);
                    byte[] value = AvroSerdes.tokenBatch().serializer().serialize(topic, batch);
                    producer.send(new ProducerRecord<>(topic, p, NumberedBatches.key(), value)).get();
                }
            }
        }
    }

    /** Waits for a checkpoint of at least {@code step}; returns the step of the newest one. */
    private static long awaitCheckpoint(CheckpointStore checkpoints, long step, ChildTrainer trainer)
            throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (true) {
            List<Path> files = checkpoints.newestFirst();
            long newest = files.isEmpty() ? -1 : Long.parseLong(files.get(0).getFileName().toString().substring(5, 17));
            if (newest >= step) {
                return newest;
            }
            if (!trainer.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("no checkpoint of step " + step + " (newest " + newest + "); log:\n"
                        + trainer.logTail());
            }
            Thread.sleep(10);
        }
    }
}
