package io.streamtrain.trainer.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@link Replay} against a real broker: by offset (with the trainer driven before and after), by time, past retention, refused while running. */
class ReplayKafkaTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    @RegisterExtension
    static final TestKafka cluster = TestKafka.perClass();

    @TempDir
    Path dir;

    private final ByteArrayOutputStream consoleBytes = new ByteArrayOutputStream();
    private final PrintStream console = new PrintStream(consoleBytes, true, StandardCharsets.UTF_8);

    @Test
    void shouldRewindTheRunAndRepeatItsLossesBitForBitWhenReplayedToAnOffset() throws Exception {
        String topic = "replay-offsets";
        String application = "replay-offsets-trainer";
        produce(topic, 10, sequence -> null);
        Map<String, String> config = NumberedBatches.trainerConfig(cluster.bootstrapServers(), application, topic,
                dir.resolve("run"), TrainerConfig.CHECKPOINT_EVERY_STEPS, "0");
        train(config, 3);                                           // step-3: handled offset 2
        List<TrainingMetrics> first = train(config, 8);             // steps 4..8 from offsets 3..7
        Path checkpoints = new TrainerConfig(config).checkpointDir();
        Path step3 = checkpoints.resolve("step-000000000003.safetensors");
        Path step8 = checkpoints.resolve("step-000000000008.safetensors");
        assertTrue(Files.exists(step3) && Files.exists(step8), "both final checkpoints kept");

        Replay.Result result;
        try (Admin admin = cluster.admin()) {
            result = new Replay(admin, TIMEOUT, console).run(new Replay.Request(application, topic,
                    ReplayTarget.parseOffsets(List.of("0:3")), checkpoints, Optional.of(step3), false,
                    Optional.empty(), false));
            assertEquals(3, committed(admin, application, new TopicPartition(topic, 0)));
        }
        ReplayPlan.PartitionMove move = result.plan().moves().get(0);
        assertEquals(8, move.current(), "the run read up to offset 7: from 8");
        assertEquals(3, move.target());
        assertEquals(7, move.recordsToRead());
        assertEquals(List.of(), result.plan().warnings());
        assertFalse(Files.exists(step8), "the later checkpoint is moved aside, out of the trainer's way");
        assertTrue(result.movedAside().values().stream().allMatch(Files::exists), "moved, not deleted");
        Checkpoint aligned = Checkpoints.read(step3);
        assertEquals("2", aligned.metadata().get(RunLedger.offsetKey(new TopicPartition(topic, 0))));
        assertEquals(3, aligned.step());
        assertTrue(consoleBytes.toString(StandardCharsets.UTF_8).contains("records to read"), console());

        List<TrainingMetrics> again = train(config, 8);
        assertEquals(5, first.size(), "steps 4..8");
        assertEquals(first.size(), again.size());
        for (int i = 0; i < first.size(); i++) {
            assertEquals(first.get(i).getStep(), again.get(i).getStep());
            assertEquals(first.get(i).getSourceOffset(), again.get(i).getSourceOffset());
            assertEquals(Double.doubleToRawLongBits(first.get(i).getLoss()),
                    Double.doubleToRawLongBits(again.get(i).getLoss()), "loss of step " + first.get(i).getStep()
                            + ": " + first.get(i).getLoss() + " then " + again.get(i).getLoss());
        }
        assertTrue(java.util.Arrays.equals(Checkpoints.read(result.movedAside().values().iterator().next())
                .parameters(), Checkpoints.read(step8).parameters()), "the same weights at step 8, bit for bit");
    }

    @Test
    void shouldStartANewRunAtTheFirstRecordOfTheTimeWhenReplayedToADatetime() throws Exception {
        String topic = "replay-time";
        String application = "replay-time-trainer";
        Instant early = Instant.now().minus(Duration.ofHours(3));
        Instant late = early.plus(Duration.ofHours(1));
        produce(topic, 10, sequence -> (sequence < 6 ? early : late).toEpochMilli() + sequence);
        Path checkpoints = dir.resolve("run/checkpoints");
        Path source = writeCheckpoint(checkpoints, Map.of(RunLedger.RUN_ID_KEY, "old-run",
                RunLedger.offsetKey(new TopicPartition(topic, 0)), "9"));
        Path newRun = dir.resolve("new-run");

        Replay.Result result;
        try (Admin admin = cluster.admin()) {
            result = new Replay(admin, TIMEOUT, console).run(new Replay.Request(application, topic,
                    ReplayTarget.parseDatetime(early.plus(Duration.ofMinutes(30)).toString(), java.time.ZoneOffset.UTC),
                    checkpoints, Optional.empty(), true, Optional.of(newRun), false));
            assertEquals(6, committed(admin, application, new TopicPartition(topic, 0)));
        }
        assertEquals(6, result.plan().moves().get(0).target(), "the first record at or after the time");
        assertEquals(10, result.plan().moves().get(0).current());
        assertEquals(4, result.plan().recordsToRead());
        assertNotEquals("old-run", result.runId());
        Checkpoint written = Checkpoints.read(result.checkpoint().orElseThrow());
        assertEquals(newRun.resolve("checkpoints"), result.checkpoint().get().getParent());
        assertEquals(result.runId(), written.metadata().get(RunLedger.RUN_ID_KEY));
        assertEquals("old-run", written.metadata().get(Replay.PARENT_RUN_ID_KEY));
        assertEquals("5", written.metadata().get(RunLedger.offsetKey(new TopicPartition(topic, 0))));
        assertEquals("9", Checkpoints.read(source).metadata()
                .get(RunLedger.offsetKey(new TopicPartition(topic, 0))), "the old run is left as it was");

        try (Admin admin = cluster.admin()) {      // a duration back from now finds the same record
            ReplayPlan byDuration = new ReplayPlanner(admin, TIMEOUT).plan(application, topic,
                    ReplayTarget.parseDuration("150m", Instant.now()), source, Checkpoints.read(source), Map.of());
            assertEquals(6, byDuration.moves().get(0).target());
        }
    }

    @Test
    void shouldWarnAndSayWhatWillBeReadWhenTheOffsetIsPastRetention() throws Exception {
        String topic = "replay-retention";
        String application = "replay-retention-trainer";
        produce(topic, 10, sequence -> null);
        TopicPartition partition = new TopicPartition(topic, 0);
        try (Admin admin = cluster.admin()) {
            admin.deleteRecords(Map.of(partition, RecordsToDelete.beforeOffset(4))).all().get();
        }
        Path checkpoints = dir.resolve("run/checkpoints");
        Path source = writeCheckpoint(checkpoints, Map.of(RunLedger.offsetKey(partition), "9"));
        byte[] before = Files.readAllBytes(source);

        Replay.Result result;
        try (Admin admin = cluster.admin()) {
            result = new Replay(admin, TIMEOUT, console).run(new Replay.Request(application, topic,
                    ReplayTarget.parseOffsets(List.of("0:0")), checkpoints, Optional.empty(), false,
                    Optional.empty(), true));
            assertTrue(admin.listConsumerGroupOffsets(application).partitionsToOffsetAndMetadata().get().isEmpty(),
                    "a dry run commits nothing");
        }
        ReplayPlan.PartitionMove move = result.plan().moves().get(0);
        assertEquals(0, move.requested());
        assertEquals(4, move.logStart());
        assertEquals(4, move.target(), "the oldest retained record");
        assertEquals(6, move.recordsToRead());
        List<String> retention = result.plan().warnings().stream().filter(w -> w.contains("past retention")).toList();
        assertEquals(1, retention.size(), result.plan().warnings().toString());
        String warning = retention.get(0);
        assertTrue(warning.contains("below the log-start offset 4") && warning.contains("past retention")
                && warning.contains("will read from 4, 6 record(s)"), warning);
        assertTrue(console().contains("WARNING: " + warning) && console().contains("dry run: nothing changed"),
                console());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(source)), "a dry run writes nothing");
    }

    @Test
    void shouldWarnThatTheModelAlreadyTrainedTheRecordsWhenReplayedBehindItsCheckpoint() throws Exception {
        String topic = "replay-behind";
        String application = "replay-behind-trainer";
        produce(topic, 10, sequence -> null);
        TopicPartition partition = new TopicPartition(topic, 0);
        Path checkpoints = dir.resolve("run/checkpoints");
        writeCheckpoint(checkpoints, Map.of(RunLedger.offsetKey(partition), "7"));
        Path older = writeCheckpoint(dir.resolve("older"), Map.of(RunLedger.offsetKey(partition), "4"));

        ReplayPlan behind;
        ReplayPlan fromOlder;
        try (Admin admin = cluster.admin()) {
            behind = new Replay(admin, TIMEOUT, console).run(new Replay.Request(application, topic,
                    ReplayTarget.parseOffsets(List.of("0:5")), checkpoints, Optional.empty(), false,
                    Optional.empty(), true)).plan();
            fromOlder = new Replay(admin, TIMEOUT, console).run(new Replay.Request(application, topic,
                    ReplayTarget.parseOffsets(List.of("0:5")), checkpoints, Optional.of(older), false,
                    Optional.empty(), true)).plan();
        }
        assertEquals(1, behind.warnings().size(), behind.warnings().toString());
        String warning = behind.warnings().get(0);
        assertTrue(warning.contains("partition 0 moves back") && warning.contains("records 5..7 were already trained")
                && warning.contains("--from-checkpoint"), warning);
        assertTrue(console().contains("WARNING: " + warning), console());
        assertEquals(List.of(), fromOlder.warnings(), "the older checkpoint's model has not seen offsets 5..7");
    }

    @Test
    void shouldNameTheRunDirectoriesWithCheckpointsAndTheRunDirFlagWhenTheDefaultRunHasNone() throws Exception {
        String topic = "replay-run-dir";
        String application = "replay-run-dir-trainer";
        produce(topic, 2, sequence -> null);
        Path runs = dir.resolve("runs");
        writeCheckpoint(runs.resolve("mine/checkpoints"), Map.of());
        Files.createDirectories(runs.resolve("empty/checkpoints"));
        Path looked = runs.resolve(application).resolve("checkpoints");
        ReplayException refused;
        try (Admin admin = cluster.admin()) {
            refused = assertThrows(ReplayException.class, () -> new Replay(admin, TIMEOUT, console)
                    .run(new Replay.Request(application, topic, new ReplayTarget.ToEarliest(), looked, Optional.empty(),
                            false, Optional.empty(), true)));
        }
        String message = refused.getMessage();
        assertTrue(message.contains("no checkpoint in " + looked.toAbsolutePath()), message);
        assertTrue(message.contains("give replay the same --run-dir DIR"), message);
        assertTrue(message.contains(runs.resolve("mine") + " (newest step-000000000000.safetensors)"), message);
        assertFalse(message.contains(runs.resolve("empty").toString()), message);
    }

    @Test
    void shouldRefuseAndNameTheMemberWhenTheTrainerIsRunning() throws Exception {
        String topic = "replay-refusal";
        String application = "replay-refusal-trainer";
        produce(topic, 2, sequence -> null);
        Path checkpoints = dir.resolve("run/checkpoints");
        Path source = writeCheckpoint(checkpoints, Map.of());
        byte[] before = Files.readAllBytes(source);
        try (KafkaConsumer<byte[], byte[]> member = new KafkaConsumer<>(Map.of(
                ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers(),
                ConsumerConfig.GROUP_ID_CONFIG, application, ConsumerConfig.CLIENT_ID_CONFIG, "running-trainer",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false), new ByteArrayDeserializer(),
                new ByteArrayDeserializer());
             Admin admin = cluster.admin()) {
            member.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (member.assignment().isEmpty() && System.nanoTime() < deadline) {
                member.poll(Duration.ofMillis(100));
            }
            assertFalse(member.assignment().isEmpty(), "the member joined");
            ReplayException refused = assertThrows(ReplayException.class, () -> new Replay(admin, TIMEOUT, console)
                    .run(new Replay.Request(application, topic, new ReplayTarget.ToEarliest(), checkpoints,
                            Optional.empty(), false, Optional.empty(), false)));
            assertTrue(refused.getMessage().contains("running-trainer") && refused.getMessage().contains("live member")
                    && refused.getMessage().contains("Stop that trainer first"), refused.getMessage());
        }
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(source)), "nothing changed");
    }

    // ---- helpers ----

    /** Produces batches 0..count-1 to partition 0 of a new one-partition topic, with the given record timestamps. */
    private static void produce(String topic, int count, java.util.function.LongFunction<Long> timestamp)
            throws Exception {
        cluster.createTopic(topic, 1);
        try (KafkaProducer<byte[], byte[]> producer = cluster.producer()) {
            for (long sequence = 0; sequence < count; sequence++) {
                producer.send(new ProducerRecord<>(topic, 0, timestamp.apply(sequence), NumberedBatches.key(),
                        NumberedBatches.value(topic, sequence)));
            }
            producer.flush();
        }
    }

    /** Runs the trainer of {@code config} in this JVM until {@code steps} in all; the metrics of its steps. */
    private List<TrainingMetrics> train(Map<String, String> config, long steps) throws Exception {
        Map<String, Object> properties = NumberedBatches.asProperties(config);
        properties.put(TrainerConfig.MAX_STEPS, Long.toString(steps));
        Trainer.Recorder recorder = new Trainer.Recorder();
        try (Trainer trainer = new Trainer(new TrainerConfig(properties), console)) {
            trainer.addListener(recorder);
            trainer.start();
            assertTrue(trainer.awaitSteps(steps, Duration.ofSeconds(90)), "step " + steps + " reached; " + console());
        }
        return recorder.steps();
    }

    /** A fresh tiny model's checkpoint of step 0 with {@code metadata}, written into {@code directory}. */
    private static Path writeCheckpoint(Path directory, Map<String, String> metadata) throws Exception {
        try (Gpt gpt = Gpt.initialize(GptConfig.preset("tiny", 257), new CpuKernels(1), TrainingOptions.defaults(),
                7)) {
            return new CheckpointStore(directory, 3).write(gpt.checkpoint(NumberedBatches.identity(), metadata));
        }
    }

    private static long committed(Admin admin, String group, TopicPartition partition) throws Exception {
        OffsetAndMetadata offset = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get()
                .get(partition);
        return offset == null ? -1 : offset.offset();
    }

    private String console() {
        return consoleBytes.toString(StandardCharsets.UTF_8);
    }
}
