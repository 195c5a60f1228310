package io.streamtrain.trainer.world;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.PatternRows;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.trainer.DeadLetters;
import io.streamtrain.trainer.ResidentModel;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.world.internal.RankInput;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.CollectiveWatchdog;
import io.streamtrain.trainer.internal.ConsoleSummary;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Ranks that find each other on a Kafka control topic and sum over TCP, against a real in-process broker. */
@Timeout(120)
class WorldTest {
    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-2, 2));
    private static final int T = 16;
    @RegisterExtension
    static final TestKafka cluster = TestKafka.perClass();

    private static int[] rows(int step, int first, int rows) {
        return PatternRows.rows(T, step, first, rows);
    }

    /** The reducers of a world of {@code size} formed through {@code rendezvous}, by rank (threads join). */
    private static List<SocketReducer> form(Rendezvous rendezvous, int size) throws Exception {
        ExecutorService threads = Executors.newFixedThreadPool(size);
        try {
            Rendezvous.Formed<SocketReducer.Listener> lead = rendezvous.lead("127.0.0.1", size, new byte[0]);
            List<Future<SocketReducer>> joins = new ArrayList<>();
            for (int r = 1; r < size; r++) {
                int rank = r;
                joins.add(threads.submit(() -> rendezvous.join(size, rank, Duration.ofSeconds(30)).link()));
            }
            List<SocketReducer> world = new ArrayList<>();
            world.add(lead.link().accept(Duration.ofSeconds(30)));
            for (Future<SocketReducer> join : joins) {
                world.add(join.get());
            }
            return world;
        } finally {
            threads.shutdown();
        }
    }

    @Test
    void shouldTrainThreeRanksOverSocketsToTheBitsOfThreeReplicasInOneProcess() throws Exception {
        List<SocketReducer> world = form(new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()), "control-bits", "bits"), 3);
        ExecutorService threads = Executors.newFixedThreadPool(3);
        List<Gpt> ranks = new ArrayList<>();
        try (DataParallelGpt inProcess = DataParallelGpt.initialize(CONFIG,
                List.of(new CpuKernels(1), new CpuKernels(1), new CpuKernels(1)), OPTIONS, 7)) {
            int[] split = {2, 0, 1};
            for (int r = 0; r < 3; r++) {
                ranks.add(Gpt.initialize(CONFIG, new CpuKernels(1), OPTIONS, 7));
            }
            for (int step = 0; step < 4; step++) {
                int s = step;
                List<Future<Double>> losses = new ArrayList<>();
                int first = 0;
                int[][] shares = new int[3][];
                for (int r = 0; r < 3; r++) {
                    shares[r] = rows(s, first, split[r]);
                    first += split[r];
                    int rank = r;
                    losses.add(threads.submit(() -> ranks.get(rank).trainStep(shares[rank], split[rank], T, 3,
                            world.get(rank)).loss()));
                }
                double expected = inProcess.trainStep(shares, split, T).loss();
                for (Future<Double> loss : losses) {
                    assertEquals(expected, loss.get(), "step " + step);
                }
            }
            float[] expected = inProcess.checkpoint(TOKENIZER, Map.of()).parameters();
            for (Gpt rank : ranks) {
                assertArrayEquals(expected, rank.checkpoint(TOKENIZER, Map.of()).parameters());
            }
        } finally {
            threads.shutdownNow();
            ranks.forEach(Gpt::close);
            world.forEach(SocketReducer::close);
        }
    }

    @Test
    void shouldPassOverTheRecordOfADeadWorldAndFormTheNextGeneration() throws Exception {
        Rendezvous rendezvous = new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()), "control-dead", "dead");
        rendezvous.ensureTopic();
        // a world of generation 5 whose rank 0 is gone: nothing listens at its address
        java.net.ServerSocket gone = new java.net.ServerSocket(0);
        String address = "127.0.0.1:" + gone.getLocalPort();
        gone.close();
        rendezvous.publish(new Rendezvous.World(5, 2, address, new byte[0]));
        ExecutorService threads = Executors.newSingleThreadExecutor();
        try {
            Future<Rendezvous.Formed<SocketReducer>> joined =
                    threads.submit(() -> rendezvous.join(2, 1, Duration.ofSeconds(30)));
            Thread.sleep(1000); // rank 1 first meets the dead record
            Rendezvous.Formed<SocketReducer.Listener> lead = rendezvous.lead("127.0.0.1", 2, new byte[] {1, 2});
            assertEquals(6, lead.world().generation());
            try (SocketReducer zero = lead.link().accept(Duration.ofSeconds(30));
                 SocketReducer one = joined.get().link()) {
                assertEquals(6, joined.get().world().generation());
                assertArrayEquals(new byte[] {1, 2}, joined.get().world().ncclId());
                assertEquals(1, one.rank());
                assertEquals(2, zero.worldSize());
            }
        } finally {
            threads.shutdownNow();
        }
    }

    @Test
    void shouldStopEveryRankWhenOneDies() throws Exception {
        List<SocketReducer> world = form(new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()), "control-die", "die"), 2);
        try (CpuKernels kernels = new CpuKernels(1)) {
            Tensor buffer = kernels.allocate(4);
            world.get(1).close(); // as a SIGKILL closes its sockets
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> world.get(0).allReduceSum(kernels, buffer));
            assertTrue(e.getMessage().contains("rank 0 lost rank 1 of the world"), e.getMessage());
        } finally {
            world.forEach(SocketReducer::close);
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void shouldStopARankAfterWorldTimeoutWhenAPeerHangsInsteadOfWaitingForEver(@TempDir Path dir) throws Exception {
        List<SocketReducer> world = form(new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()),
                "control-hung", "hung"), 2);
        Map<String, String> settings = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "hung", "hung-batches",
                dir, TrainerConfig.WORLD_SIZE, "2", TrainerConfig.WORLD_TIMEOUT_MS, "1000");
        TrainerConfig config = new TrainerConfig(settings);
        try (CpuKernels kernels = new CpuKernels(1);
             CollectiveWatchdog watchdog = RankTrainer.watchdog(config, 0, 2, 1, world.get(0), world.get(0))) {
            Tensor buffer = kernels.allocate(4);
            long start = System.nanoTime();
            // rank 1 lives (its socket stays open) but never reduces: a hung rank, which no broken socket reveals
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> watchdog.guard(
                    "step 1 (the gradients' all-reduce)", () -> {
                        world.get(0).allReduceSum(kernels, buffer);
                        return null;
                    }));
            double seconds = (System.nanoTime() - start) / 1e9;
            assertTrue(seconds >= 1 && seconds < 10, "stopped after the 1 s bound: " + seconds + " s");
            assertTrue(e.getMessage().startsWith("rank 0 of world 'hung' (generation 1, 2 ranks) waited more than"
                    + " 1000 ms (world.timeout.ms) for the other ranks during step 1 (the gradients' all-reduce)"),
                    e.getMessage());
            IllegalStateException after = assertThrows(IllegalStateException.class,
                    () -> watchdog.guard("the exchange before step 2", () -> world.get(0).allReduce(new float[1])));
            assertEquals(e.getMessage(), after.getMessage(), "the world stays stopped");
            IllegalStateException peer = assertThrows(IllegalStateException.class,
                    () -> world.get(1).allReduce(new float[1]));
            assertTrue(peer.getMessage().contains("rank 1 lost rank 0 of the world"),
                    "the abort closed rank 0's sockets, so the hung rank fails too once it wakes: " + peer.getMessage());
        } finally {
            world.forEach(SocketReducer::close);
        }
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void shouldAbortAtOnceWhenTheCommunicatorReportsAPeersFailure() throws Exception {
        List<SocketReducer> world = form(new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()),
                "control-async", "async"), 2);
        // NCCL's ncclCommGetAsyncError stands in as this supplier on GPUs (no GPU here): it turns non-null when
        // NCCL's proxy thread sees a peer fail, while the step waits on the GPU; the deadline is far away
        java.util.concurrent.atomic.AtomicReference<String> error = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger aborts = new java.util.concurrent.atomic.AtomicInteger();
        try (CollectiveWatchdog watchdog = new CollectiveWatchdog("rank 0 of world 'async' (generation 1, 2 ranks)",
                Duration.ofMinutes(10), Duration.ofMillis(20), error::get, () -> {
                    aborts.incrementAndGet();
                    world.get(0).close();
                })) {
            Executors.newSingleThreadScheduledExecutor().schedule(
                    () -> error.set("remote process exited or there was a network error"), 300,
                    java.util.concurrent.TimeUnit.MILLISECONDS);
            long start = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> watchdog.guard(
                    "step 7 (the gradients' all-reduce)", () -> world.get(0).allReduce(new float[3])));
            assertTrue((System.nanoTime() - start) / 1e9 < 5, "at once, not after world.timeout.ms");
            assertEquals("rank 0 of world 'async' (generation 1, 2 ranks) stopped the world during step 7 (the"
                    + " gradients' all-reduce): the communicator reports remote process exited or there was a network"
                    + " error (a peer died or failed); restart every rank to resume from the last checkpoint",
                    e.getMessage());
            assertEquals(1, aborts.get(), "the communicator is aborted once");
        } finally {
            world.forEach(SocketReducer::close);
        }
    }

    @Test
    void shouldSayWhatItSawWhenNoRankZeroOfItsWorldSizeAppears() throws Exception {
        Rendezvous rendezvous = new Rendezvous(KafkaClientSettings.plaintext(cluster.bootstrapServers()), "control-size", "size");
        Rendezvous.Formed<SocketReducer.Listener> lead = rendezvous.lead("127.0.0.1", 3, new byte[0]);
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> rendezvous.join(2, 1, Duration.ofSeconds(2)));
            assertTrue(e.getMessage().contains("generation 1 of world size 3"), e.getMessage());
        } finally {
            lead.link().close();
        }
    }

    @Test
    void shouldGiveRankRPartitionsPModWAndRefuseATopicWithFewerPartitionsThanRanks() throws Exception {
        cluster.createTopic("three-partitions", 3);
        try (org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> consumer =
                     new org.apache.kafka.clients.consumer.KafkaConsumer<>(Map.of("bootstrap.servers",
                             cluster.bootstrapServers()), new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                             new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
            assertEquals(List.of(0, 2), RankInput.assign(consumer, "three-partitions", 0, 2).stream()
                    .map(org.apache.kafka.common.TopicPartition::partition).toList());
            assertEquals(List.of(1), RankInput.assign(consumer, "three-partitions", 1, 2).stream()
                    .map(org.apache.kafka.common.TopicPartition::partition).toList());
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> RankInput.assign(consumer, "three-partitions", 3, 4));
            assertTrue(e.getMessage().contains("has 3 partition(s), fewer than the 4 ranks"), e.getMessage());
        }
    }
    @Test
    void shouldDeadLetterEveryBadRecordOfARankOnceEvenWhenARestartReadsThemAgain(@TempDir Path dir) throws Exception {
        String topic = "rank-bad";
        cluster.createTopic(topic, 1);
        // good 0, not a TokenBatch at 1, good 1, a tombstone at 3, good 2
        try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), NumberedBatches.value(topic, 0))).get();
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), new byte[] {1, 2, 3})).get();
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), NumberedBatches.value(topic, 1))).get();
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), null)).get();
            producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(), NumberedBatches.value(topic, 2))).get();
        }
        Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), "rank-bad", topic,
                dir.resolve("run"), TrainerConfig.MAX_BATCHES, "3", TrainerConfig.WORLD_SIZE, "1",
                TrainerConfig.WORLD_RANK, "0", TrainerConfig.WORLD_HOST, "127.0.0.1",
                TrainerConfig.WORLD_WAIT_MS, "300", TrainerConfig.CONTROL_TOPIC, "rank-bad-control");
        TrainerConfig trainerConfig = new TrainerConfig(config);
        PrintStream log = new PrintStream(OutputStream.nullOutputStream());
        try (RankTrainer rank = new RankTrainer(trainerConfig, log)) {
            rank.run();
        }
        String deadLetters = config.get(TrainerConfig.DEAD_LETTERS_TOPIC);
        List<ConsumerRecord<byte[], byte[]>> letters = cluster.readAll(deadLetters, Duration.ofSeconds(10));
        assertEquals(List.of("1 not-a-token-batch", "3 empty-batch"), letters.stream()
                .map(r -> DeadLetters.header(r.headers(), DeadLetters.OFFSET) + " "
                        + DeadLetters.header(r.headers(), DeadLetters.MESSAGE).split(":")[0]).toList());
        String runId = DeadLetters.header(letters.get(0).headers(), DeadLetters.RUN_ID);
        CheckpointStore store = new CheckpointStore(trainerConfig.checkpointDir(), 3);
        Map<String, String> metadata = store.loadNewest(log).orElseThrow().checkpoint().metadata();
        assertEquals(runId, metadata.get("run.id"));
        assertEquals("4", metadata.get(RunLedger.offsetKey(new org.apache.kafka.common.TopicPartition(topic, 0))));
        assertEquals("2", metadata.get(RunLedger.DEAD_LETTERS_NEXT_KEY_PREFIX + "0"));

        // a crash before the checkpoint: the restart reads both bad records again and sends neither a second time
        try (var files = Files.list(trainerConfig.checkpointDir())) {
            for (Path file : files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).toList()) {
                Files.delete(file);
            }
        }
        try (RankTrainer rank = new RankTrainer(trainerConfig, log)) {
            rank.run();
        }
        assertEquals(2, cluster.readAll(deadLetters, Duration.ofSeconds(10)).size());
        Map<String, String> again = store.loadNewest(log).orElseThrow().checkpoint().metadata();
        assertEquals(runId, again.get("run.id"));
        assertEquals("3", again.get(RunLedger.BATCHES_TRAINED_KEY));
    }

    /** Produces batches {@code sequences} of {@link NumberedBatches} to partition 0 of {@code topic}. */
    private static void produce(String topic, long... sequences) throws Exception {
        produceTo(topic, 0, sequences);
    }

    /** Produces batches {@code sequences} of {@link NumberedBatches} to {@code partition} of {@code topic}. */
    private static void produceTo(String topic, int partition, long... sequences) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
            for (long sequence : sequences) {
                producer.send(new ProducerRecord<>(topic, partition, NumberedBatches.key(),
                        NumberedBatches.value(topic, sequence))).get();
            }
        }
    }

    /** The settings of rank 0 of a world of one on {@code topic} (a new 1-partition topic), plus {@code overrides}. */
    private static Map<String, String> worldOfOne(String topic, Path runDir, String... overrides) throws Exception {
        return world(topic, 1, runDir, overrides);
    }

    /**
     * The settings of rank 0 of a world of {@code ranks} on {@code topic} (a new topic of a partition per rank), plus
     * {@code overrides}.
     */
    private static Map<String, String> world(String topic, int ranks, Path runDir, String... overrides)
            throws Exception {
        cluster.createTopic(topic, ranks);
        Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), topic, topic, runDir,
                TrainerConfig.WORLD_SIZE, Integer.toString(ranks), TrainerConfig.WORLD_RANK, "0",
                TrainerConfig.WORLD_HOST, "127.0.0.1",
                TrainerConfig.WORLD_WAIT_MS, "300", TrainerConfig.CONTROL_TOPIC, topic + "-control",
                TrainerConfig.EVAL_TOPIC, topic + ".eval", TrainerConfig.EVAL_EVERY_STEPS, "0");
        for (int i = 0; i < overrides.length; i += 2) {
            config.put(overrides[i], overrides[i + 1]);
        }
        return config;
    }

    /** Runs every rank of the world of {@code config} to its end, each in a thread; what rank 0 printed. */
    private static String runRank(Map<String, String> config) throws Exception {
        return runRanks(config).get(0);
    }

    /** Runs every rank of the world of {@code config} to its end, each in a thread; what each printed, by rank. */
    private static List<String> runRanks(Map<String, String> config) throws Exception {
        int size = Integer.parseInt(config.get(TrainerConfig.WORLD_SIZE));
        List<java.io.ByteArrayOutputStream> consoles = new ArrayList<>();
        ExecutorService threads = Executors.newFixedThreadPool(size);
        try {
            List<Future<?>> ranks = new ArrayList<>();
            for (int r = 0; r < size; r++) {
                Map<String, String> settings = new java.util.HashMap<>(config);
                settings.put(TrainerConfig.WORLD_RANK, Integer.toString(r));
                java.io.ByteArrayOutputStream console = new java.io.ByteArrayOutputStream();
                consoles.add(console);
                PrintStream log = new PrintStream(console, true, java.nio.charset.StandardCharsets.UTF_8);
                ranks.add(threads.submit(() -> {
                    try (RankTrainer rank = new RankTrainer(new TrainerConfig(settings), log)) {
                        rank.run();
                    }
                    return null;
                }));
            }
            for (Future<?> rank : ranks) {
                rank.get();
            }
        } finally {
            threads.shutdownNow();
        }
        return consoles.stream().map(console -> console.toString(java.nio.charset.StandardCharsets.UTF_8)).toList();
    }

    private static List<TrainingMetrics> metricsOf(String topic) {
        return cluster.readAll(topic + ".metrics", Duration.ofSeconds(10)).stream()
                .map(r -> AvroSerdes.trainingMetrics().deserializer().deserialize(topic, r.value())).toList();
    }

    @Test
    void shouldReportTheSpikesOfAWorldsStepsAndDeadLetterABatchWhoseLossIsASpikeBeforeItsStep(@TempDir Path dir)
            throws Exception {
        String topic = "rank-spikes";
        // every loss is above 0.5 x its recent average: steps 6 on are reported as spikes (5 steps fill the averages),
        // and batches after the 6 of the guard's warm-up are dead-lettered untrained
        Map<String, String> config = worldOfOne(topic, dir, TrainerConfig.SPIKE_WARNING_LOSS_RATIO, "0.5",
                TrainerConfig.LOSS_SPIKE_RATIO, "0.5", TrainerConfig.LOSS_SPIKE_WARMUP_STEPS, "6");
        produce(topic, 0, 1, 2, 3, 4, 5, 6, 7);
        java.io.ByteArrayOutputStream console = new java.io.ByteArrayOutputStream();
        String deadLetters = config.get(TrainerConfig.DEAD_LETTERS_TOPIC);
        ExecutorService thread = Executors.newSingleThreadExecutor();
        try (RankTrainer rank = new RankTrainer(new TrainerConfig(config), new PrintStream(console, true,
                java.nio.charset.StandardCharsets.UTF_8))) {
            Future<?> running = thread.submit(rank::run);
            try {
                cluster.readUntil(deadLetters, new org.apache.kafka.common.serialization.ByteArrayDeserializer(),
                        letters -> letters.size() >= 2, Duration.ofSeconds(30));
            } finally {
                rank.stop();
            }
            running.get();
        } finally {
            thread.shutdownNow();
        }
        List<TrainingMetrics> metrics = metricsOf(topic);
        assertEquals(6, metrics.size(), "6 steps trained: " + metrics);
        for (TrainingMetrics step : metrics.subList(0, 5)) {
            assertEquals(null, step.getSpike(), "step " + step.getStep() + " fills the averages");
        }
        String spike = metrics.get(5).getSpike();
        assertTrue(spike != null && spike.startsWith("loss "), "step 6 is a loss spike: " + spike);
        String printed = console.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(printed.contains("warning: spike at step 6: loss "), printed);
        List<ConsumerRecord<byte[], byte[]>> letters = cluster.readAll(deadLetters, Duration.ofSeconds(10));
        assertEquals(List.of("6 loss-spike", "7 loss-spike"), letters.stream()
                .map(r -> DeadLetters.header(r.headers(), DeadLetters.OFFSET) + " "
                        + DeadLetters.header(r.headers(), DeadLetters.MESSAGE).split(":")[0]).toList());
    }

    @Test
    void shouldSendRankZerosSamplesAndSendTheCheckpointsRecordsAgainWhenTheWorldRestartsAfterACrash(@TempDir Path dir)
            throws Exception {
        String topic = "rank-resend";
        Map<String, String> config = worldOfOne(topic, dir, TrainerConfig.MAX_BATCHES, "3",
                TrainerConfig.CHECKPOINT_EVERY_STEPS, "2", TrainerConfig.SAMPLE_EVERY_STEPS, "2",
                TrainerConfig.SAMPLE_MAX_NEW_TOKENS, "4", TrainerConfig.SAMPLE_PROMPT_TOKENS, "5",
                TrainerConfig.SAMPLE_FIXED_PROMPT, "To be");
        produce(topic, 0, 1, 2);
        runRank(config);
        String samplesTopic = config.get(TrainerConfig.SAMPLES_TOPIC);
        List<ConsumerRecord<byte[], byte[]>> samples = cluster.readAll(samplesTopic, Duration.ofSeconds(10));
        String runId = metricsOf(topic).get(0).getRunId();
        assertEquals(List.of(Topics.runStepKey(runId, 2), Topics.runStepKey(runId, 2) + "/fixed-prompt"), samples.stream()
                .map(r -> new String(r.key(), java.nio.charset.StandardCharsets.UTF_8)).toList());
        TextSample sample = AvroSerdes.textSample().deserializer().deserialize(samplesTopic, samples.get(0).value());
        int[] batch = NumberedBatches.tokens(1); // step 2 trained batch 1
        assertEquals(new String(batch, 0, 5) /* the byte tokenizer: id = code point */,
                sample.getPrompt(), "the prompt is row 0 of rank 0's batch");
        assertEquals(new String(batch, 5, 4), sample.getActual());
        assertEquals("To be", AvroSerdes.textSample().deserializer().deserialize(samplesTopic,
                samples.get(1).value()).getPrompt());

        CheckpointStore store = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 3);
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        CheckpointStore.Loaded last = store.loadNewest(quiet).orElseThrow();
        assertEquals(3, last.checkpoint().step());
        assertTrue(last.checkpoint().metadata().keySet().stream().noneMatch(k -> k.startsWith("emitted.")),
                "a clean stop delivered every record: the final checkpoint carries none to send again");
        // a crash after the checkpoint of step 2: its records may be lost; the restart sends them again
        Files.delete(last.path());
        String printed = runRank(config);
        assertTrue(printed.contains("re-sent 4 metrics and sample record(s)"), printed);

        List<ConsumerRecord<byte[], byte[]>> metrics = cluster.readAll(topic + ".metrics", Duration.ofSeconds(10));
        assertEquals(List.of(1L, 2L, 3L, 1L, 2L, 3L), metricsOf(topic).stream().map(TrainingMetrics::getStep).toList(),
                "steps 1 and 2 re-sent before step 3 is trained again");
        for (int i = 0; i < 2; i++) {
            assertArrayEquals(metrics.get(i).value(), metrics.get(3 + i).value(), "the same bytes, step " + (i + 1));
            assertEquals(metrics.get(i).timestamp(), metrics.get(3 + i).timestamp(), "with their time");
        }
        List<ConsumerRecord<byte[], byte[]>> again = cluster.readAll(samplesTopic, Duration.ofSeconds(10));
        assertEquals(4, again.size());
        assertArrayEquals(again.get(0).value(), again.get(2).value());
        assertArrayEquals(again.get(1).value(), again.get(3).value());
    }

    @Test
    void shouldEvaluateAWorldOnTheHeldOutTopicOnRankZeroAndKeepItsBestCheckpointWithTheWorldsLedger(@TempDir Path dir)
            throws Exception {
        String topic = "rank-eval";
        // two ranks: steps 1 and 2 of two batches, step 3 of rank 0's last one (rank 1 waits, then gives no rows)
        Map<String, String> config = world(topic, 2, dir, TrainerConfig.MAX_BATCHES, "5",
                TrainerConfig.WORLD_WAIT_MS, "2000", TrainerConfig.EVAL_EVERY_STEPS, "2",
                TrainerConfig.EVAL_BATCHES, "2", TrainerConfig.LEARNING_RATE, "1e-2",
                TrainerConfig.SUMMARY_EVERY_STEPS, "1");
        cluster.createTopic(topic + ".eval", 1);
        produce(topic + ".eval", 100, 101);
        produceTo(topic, 0, 0, 2, 4);
        produceTo(topic, 1, 1, 3);
        List<String> consoles = runRanks(config);
        String printed = consoles.get(0);

        List<ConsumerRecord<byte[], byte[]>> records = cluster.readAll(topic + ".metrics", Duration.ofSeconds(10));
        List<TrainingMetrics> metrics = metricsOf(topic);
        assertEquals(List.of(1L, 2L, 3L, 3L), metrics.stream().map(TrainingMetrics::getStep).toList(),
                "a record per step, then step 3's once more with the stop's evaluation");
        assertEquals(List.of(2L, 3L), metrics.stream().filter(m -> m.getEvalLoss() != null)
                .map(TrainingMetrics::getStep).toList(), "every 2 steps, and at the stop");
        assertEquals(2L * NumberedBatches.B * NumberedBatches.T, metrics.get(1).getEvalTokens());
        assertEquals(new String(records.get(2).key(), java.nio.charset.StandardCharsets.UTF_8),
                new String(records.get(3).key(), java.nio.charset.StandardCharsets.UTF_8),
                "the step's key: a reader by key (the monitor) keeps the completed one");
        assertEquals(records.get(2).timestamp(), records.get(3).timestamp(), "and its time");
        assertEquals(metrics.get(2), TrainingMetrics.newBuilder(metrics.get(3)).setEvalLoss(null)
                .setEvalAccuracy(null).setEvalPerplexity(null).setEvalTokens(null).build(),
                "the training figures of the record sent at step 3");
        assertTrue(printed.contains(String.format("eval      3 | held-out loss %.4f", metrics.get(3).getEvalLoss())),
                printed);
        assertTrue(printed.contains("eval      2 | held-out loss"), printed);
        assertTrue(printed.contains("best held-out loss"), printed);
        // the console: rank 0 prints the one-process trainer's summary line of the world's step; rank 1 what it gave
        assertTrue(printed.contains(ConsoleSummary.line(metrics.get(1))), printed);
        assertTrue(printed.contains("step      2 | loss ") && printed.contains(" | 2 ranks, 4 rows"), printed);
        assertTrue(consoles.get(1).contains("rank 1 | step      2 | its partitions gave 1 batch in the last 1 step,"
                + " 2 since it started"), consoles.get(1));
        assertTrue(consoles.get(1).contains("rank 1 | step      3 | its partitions gave 0 batches in the last 1"
                + " step, 2 since it started"), consoles.get(1));
        assertTrue(!consoles.get(1).contains("| loss "), "rank 1 leaves the world's figures to rank 0: "
                + consoles.get(1));

        TrainerConfig trainerConfig = new TrainerConfig(config);
        List<Path> best;
        try (var files = Files.list(trainerConfig.bestCheckpointDir())) {
            best = files.toList();
        }
        assertEquals(1, best.size(), "one best checkpoint: " + best);
        io.streamtrain.model.Checkpoint checkpoint = io.streamtrain.model.Checkpoints.read(best.get(0));
        Map<String, String> metadata = checkpoint.metadata();
        assertEquals(Long.toString(checkpoint.step()), metadata.get(ResidentModel.BEST_EVAL_STEP_KEY));
        // the world's ledger at the evaluated step: rank 1's partition too, which only a gather tells rank 0
        String one = metadata.get(RunLedger.offsetKey(new org.apache.kafka.common.TopicPartition(topic, 1)));
        assertTrue(one != null, "rank 1's offset is in the best checkpoint: " + metadata);
        long zero = Long.parseLong(metadata.get(RunLedger.offsetKey(new org.apache.kafka.common.TopicPartition(topic,
                0))));
        assertEquals(Long.toString(zero + 1 + Long.parseLong(one) + 1), metadata.get(RunLedger.BATCHES_TRAINED_KEY),
                "every batch up to the offsets, and no other, is counted");
        // the loss kept is that of the best checkpoint's weights on the held-out batches
        try (Gpt model = Gpt.restore(checkpoint, new CpuKernels(1), TrainingOptions.defaults())) {
            double expected = (model.evaluate(NumberedBatches.tokens(100), NumberedBatches.B, NumberedBatches.T).loss()
                    + model.evaluate(NumberedBatches.tokens(101), NumberedBatches.B, NumberedBatches.T).loss()) / 2;
            assertEquals(expected, Double.parseDouble(metadata.get(ResidentModel.BEST_EVAL_LOSS_KEY)), 1e-5);
        }
        CheckpointStore.Loaded last = new CheckpointStore(trainerConfig.checkpointDir(), 3)
                .loadNewest(new PrintStream(OutputStream.nullOutputStream())).orElseThrow();
        assertEquals(metadata.get(ResidentModel.BEST_EVAL_LOSS_KEY),
                last.checkpoint().metadata().get(ResidentModel.BEST_EVAL_LOSS_KEY), "the world's checkpoint keeps it");
    }
}
