package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The resident model's checkpoints: what they hold, rotation, restore with fallback, refusal of a foreign one. */
class ResidentModelTest {
    private static final int B = 2;
    private static final int T = 16;
    private static final TopicPartition P0 = new TopicPartition("streamtrain.token-batches", 0);
    private static final TopicPartition P3 = new TopicPartition("streamtrain.token-batches", 3);

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);
    private final TestBatches batches = new TestBatches(B, T);

    private ResidentModel open(Object... overrides) throws IOException {
        return ResidentModel.open(new TrainerConfig(TestBatches.config(dir, B, T, overrides)), log);
    }

    private void train(ResidentModel model, TopicPartition partition, long offset) {
        TokenBatch batch = batches.next();
        model.train(TokenIds.decode(batch.getTokens()), B, T, batch.getDataset(), batch.getSequence(), partition,
                offset);
    }

    private List<String> checkpointFiles() throws IOException {
        try (Stream<Path> files = Files.list(dir.resolve("checkpoints"))) {
            return files.map(file -> file.getFileName().toString()).filter(name -> name.startsWith("step-"))
                    .sorted().toList();
        }
    }

    @Test
    void shouldCheckpointTheOffsetOfEveryPartitionTheRunIdAndTheCounts() throws IOException {
        Path path;
        try (ResidentModel model = open()) {
            train(model, P0, 7);
            train(model, P3, 2);
            model.recordDeadLetter(P0, 8, DeadLetterReason.EMPTY_BATCH, "empty-batch: test", Map.of());
            path = model.checkpoint();
        }
        Checkpoint checkpoint = Checkpoints.read(path);
        assertEquals(2, checkpoint.step());
        Map<String, String> metadata = checkpoint.metadata();
        assertEquals("8", metadata.get("kafka.offset.streamtrain.token-batches-0"));
        assertEquals("2", metadata.get("kafka.offset.streamtrain.token-batches-3"));
        assertEquals("test-run", metadata.get(RunLedger.RUN_ID_KEY));
        assertEquals("2", metadata.get(RunLedger.BATCHES_TRAINED_KEY));
        assertEquals(Long.toString(2L * B * T), metadata.get(RunLedger.TOKENS_TRAINED_KEY));
        assertEquals(Map.of(P0, 8L, P3, 2L), RunLedger.of(metadata).offsets());
    }

    @Test
    void shouldTrainWithTheConfiguredDropoutOnEveryReplicaButEvaluateWithout() throws IOException {
        TokenBatch batch = batches.next();
        int[] tokens = TokenIds.decode(batch.getTokens());
        double plainLoss;
        io.streamtrain.model.EvalResult plainEval;
        try (ResidentModel plain = open()) {
            plainEval = plain.evaluate(tokens, B, T);
            plainLoss = plain.train(tokens, B, T, batch.getDataset(), 0, P0, 0).loss();
        }
        for (int replicas : new int[] {1, 2}) {
            deleteCheckpoints();
            try (ResidentModel dropped = open(TrainerConfig.DROPOUT, 0.5, TrainerConfig.REPLICAS, replicas)) {
                assertEquals(plainEval, dropped.evaluate(tokens, B, T), replicas + " replica(s)");
                double loss = dropped.train(tokens, B, T, batch.getDataset(), 0, P0, 0).loss();
                assertTrue(Math.abs(loss - plainLoss) > 1e-3, replicas + " replica(s): loss " + loss
                        + " with dropout 0.5, " + plainLoss + " without");
            }
        }
        assertThrows(org.apache.kafka.common.config.ConfigException.class, () -> open(TrainerConfig.DROPOUT, 1.0));
    }

    private void deleteCheckpoints() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path file : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                if (!file.equals(dir)) {
                    Files.delete(file);
                }
            }
        }
    }

    @Test
    void shouldTrainEachBatchSplitOverTwoCpuReplicasAndSayHowManyInTheMetersAndDevice() throws IOException {
        Path path;
        try (ResidentModel model = open(TrainerConfig.REPLICAS, 2)) {
            assertEquals(2, model.replicas());
            assertEquals(2, model.meters().replicas());
            assertTrue(model.deviceName().startsWith("2 x "), model.deviceName());
            train(model, P0, 0);
            train(model, P3, 0);
            path = model.checkpoint();
        }
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("2 replicas"), out.toString(StandardCharsets.UTF_8));
        Checkpoint checkpoint = Checkpoints.read(path);
        assertEquals(2, checkpoint.step());
        try (ResidentModel one = open()) { // a checkpoint of 2 replicas restores into one model
            assertEquals(2, one.step());
            assertEquals(1, one.meters().replicas());
        }
    }

    @Test
    void shouldKeepAnOrderSensitiveChecksumOfTheAppliedBatchesOfEveryDatasetAcrossARestore() throws IOException {
        int[] tokens = TokenIds.decode(batches.next().getTokens());
        try (ResidentModel model = open()) {
            model.train(tokens, B, T, "books", 5, P0, 0);
            model.train(tokens, B, T, "news", 1, P3, 0);
            model.train(tokens, B, T, "books", 6, P0, 1);
            model.checkpoint();
        }
        try (ResidentModel restored = open()) {
            restored.train(tokens, B, T, "books", 7, P0, 2);
            assertEquals(Map.of("books", (31 * (31 * 5L + 6) + 7), "news", 1L), restored.batchChecksums());
            Map<String, String> metadata = Checkpoints.read(restored.checkpoint()).metadata();
            assertEquals(Long.toString(31 * (31 * 5L + 6) + 7), metadata.get("batches.checksum.books"));
            assertEquals("1", metadata.get("batches.checksum.news"));
        }
        try (ResidentModel swapped = open(TrainerConfig.CHECKPOINT_DIR, dir.resolve("other").toString())) {
            swapped.train(tokens, B, T, "books", 6, P0, 0);
            swapped.train(tokens, B, T, "books", 5, P0, 1);
            assertEquals(31 * 6L + 5, swapped.batchChecksums().get("books"), "the order of the batches counts");
        }
    }

    @Test
    void shouldCarryTheRecordsEmittedUntilTheyAreDeliveredThenCheckpointWithoutThem() throws IOException {
        try (ResidentModel model = open()) {
            train(model, P0, 0);
            TrainingMetrics metrics = NumberedBatches.metrics("test-run", 1);
            model.recordEmitted(Topics.runStepKey("test-run", 1), metrics,
                    AvroSerdes.trainingMetrics().serializer().serialize(null, metrics));
            Map<String, String> carried = Checkpoints.read(model.checkpoint()).metadata();
            assertTrue(carried.containsKey("emitted.metrics.1"), carried.keySet().toString());

            model.emittedRecordsDelivered();
            assertTrue(model.changedSinceCheckpoint(), "a checkpoint that carries delivered records is out of date");
            Map<String, String> after = Checkpoints.read(model.checkpoint()).metadata();
            assertFalse(after.keySet().stream().anyMatch(key -> key.startsWith("emitted.")), after.keySet().toString());
            assertEquals("1", after.get(RunLedger.BATCHES_TRAINED_KEY), "the same step, written again");
        }
    }

    @Test
    void shouldKeepOnlyTheNewestCheckpoints() throws IOException {
        try (ResidentModel model = open(TrainerConfig.CHECKPOINT_KEEP, 2)) {
            for (int step = 1; step <= 3; step++) {
                train(model, P0, step);
                model.checkpoint();
            }
        }
        assertEquals(List.of("step-000000000002.safetensors", "step-000000000003.safetensors"), checkpointFiles());
    }

    @Test
    void shouldRestoreOffsetsAndRunIdAndSkipWhatWasHandled() throws IOException {
        try (ResidentModel model = open()) {
            train(model, P0, 4);
            model.checkpoint();
        }
        try (ResidentModel restored = open(TrainerConfig.RUN_ID, "")) {
            assertEquals(1, restored.step());
            assertEquals("test-run", restored.runId(), "the run id comes from the checkpoint");
            assertTrue(restored.alreadyHandled(P0, 4));
            assertTrue(restored.alreadyHandled(P0, 0));
            assertFalse(restored.alreadyHandled(P0, 5));
            assertFalse(restored.alreadyHandled(P3, 0), "a partition the checkpoint never saw starts at its beginning");
        }
    }

    @Test
    void aRunWithoutRunIdKeepsTheIdItGeneratedWhenRestartedBeforeItsFirstCheckpoint() throws IOException {
        String generated;
        try (ResidentModel model = open(TrainerConfig.RUN_ID, "")) {
            generated = model.runId();
            assertTrue(model.newRun());
            train(model, P0, 0);   // a step, its metrics record sent ... and killed before any checkpoint
        }
        assertEquals(generated + "\n", Files.readString(dir.resolve("checkpoints").resolve("run-id")));
        try (ResidentModel restarted = open(TrainerConfig.RUN_ID, "")) {
            assertEquals(generated, restarted.runId(), "the restart continues the run its metrics were sent under");
            assertFalse(restarted.newRun());
        }
    }

    @Test
    void aSecondModelOnTheSameCheckpointDirectoryIsRefusedNamingTheFirst() throws IOException {
        try (ResidentModel first = open()) {
            IllegalStateException refused = assertThrows(IllegalStateException.class, this::open);
            assertTrue(refused.getMessage().contains("in use by another trainer (pid " + ProcessHandle.current().pid())
                    && refused.getMessage().contains("run test-run"), refused.getMessage());
            train(first, P0, 0);
        }
        try (ResidentModel next = open()) {   // released on close (and by the OS when a process dies)
            assertEquals("test-run", next.runId());
        }
    }

    @Test
    void startRemovesTheTemporaryFilesOfInterruptedCheckpointWrites() throws IOException {
        Path checkpoints = Files.createDirectories(dir.resolve("checkpoints"));
        Path interrupted = Files.write(checkpoints.resolve(".step-000000000007.safetensors.1a2b3c.tmp"), new byte[64]);
        try (ResidentModel model = open()) {
            assertFalse(Files.exists(interrupted));
        }
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("removed 1 temporary file(s) of interrupted"
                + " checkpoint writes: .step-000000000007.safetensors.1a2b3c.tmp"), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldFallBackToTheCheckpointBeforeWhenTheNewestIsDamagedAndSaySo() throws IOException {
        try (ResidentModel model = open()) {
            train(model, P0, 0);
            model.checkpoint();
            train(model, P0, 1);
            truncate(model.checkpoint());
        }
        try (ResidentModel restored = open()) {
            assertEquals(1, restored.step());
            assertTrue(restored.alreadyHandled(P0, 0));
            assertFalse(restored.alreadyHandled(P0, 1), "offset 1 was only in the damaged checkpoint");
            assertTrue(restored.restoredFrom().orElseThrow().endsWith("step-000000000001.safetensors"));
        }
        String logged = out.toString(StandardCharsets.UTF_8);
        assertTrue(logged.contains("step-000000000002.safetensors is damaged"), logged);
        assertTrue(logged.contains("restoring from the older checkpoint"), logged);
    }

    @Test
    void shouldRefuseToStartAfreshWhenEveryCheckpointIsDamaged() throws IOException {
        try (ResidentModel model = open()) {
            train(model, P0, 0);
            truncate(model.checkpoint());
        }
        IOException error = assertThrows(IOException.class, this::open);
        assertTrue(error.getMessage().contains("no usable checkpoint") && error.getMessage().contains("move them"),
                error.getMessage());
    }

    @Test
    void shouldRefuseACheckpointOfAnotherModelNamingBoth() throws IOException {
        try (ResidentModel model = open()) {
            train(model, P0, 0);
            model.checkpoint();
        }
        IllegalStateException error = assertThrows(IllegalStateException.class,
                () -> open(TrainerConfig.MODEL, "small"));
        assertTrue(error.getMessage().contains("model small") && error.getMessage().contains("checkpoint.dir"),
                error.getMessage());
    }

    private static void truncate(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() / 2);
        }
    }
}
