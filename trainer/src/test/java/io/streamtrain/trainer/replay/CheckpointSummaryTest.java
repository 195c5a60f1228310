package io.streamtrain.trainer.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.CheckpointException;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.EmittedRecords;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointSummaryTest {
    @TempDir
    Path dir;

    @Test
    void shouldSummarizeStepCountsChecksumsOffsetsTokenizerConfigAndCreationTimeInJsonOrder() throws Exception {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put(RunLedger.RUN_ID_KEY, "run \"7\"");
        metadata.put(RunLedger.BATCHES_TRAINED_KEY, "2");
        metadata.put(RunLedger.TOKENS_TRAINED_KEY, "128");
        metadata.put(RunLedger.CREATED_AT_KEY, "2026-11-20T22:00:00Z");
        metadata.put("kafka.offset.streamtrain.token-batches-0", "41");
        metadata.put("kafka.offset.streamtrain.token-batches-1", "-1");
        metadata.put(Replay.REPLAY_TARGET_KEY, "offsets {0=42}");
        metadata.put(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + "hamlet", Long.toString(31 * 40L + 41));
        metadata.put(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + "news", "-7");
        metadata.put(EmittedRecords.METRICS_KEY_PREFIX + "2", "AAAA");
        metadata.put(EmittedRecords.SAMPLES_KEY_PREFIX + "2", "AAAA");
        Path path = write(metadata, 2);

        CheckpointSummary summary = CheckpointSummary.read(path);

        assertEquals(2, summary.step());
        assertEquals(128, summary.tokensTrained());
        assertEquals(Map.of("streamtrain.token-batches-0", 41L, "streamtrain.token-batches-1", -1L), summary.offsets());
        assertEquals(Instant.parse("2026-11-20T22:00:00Z"), summary.createdAt());
        Map<String, Object> json = summary.toJsonFields();
        assertEquals(List.of("path", "step", "tokens_trained", "batches_trained", "batch_checksums", "offsets",
                "tokenizer", "config", "created_at", "run_id", "emitted_records", "metadata"),
                List.copyOf(json.keySet()));
        assertEquals(2L, json.get("batches_trained"));
        assertEquals(Map.of("hamlet", 31 * 40L + 41, "news", -7L), json.get("batch_checksums"));
        assertEquals(2, json.get("emitted_records"), "records kept for re-sending are counted, not printed");
        assertEquals(Map.of("name", "byte", "vocabulary_size", 257, "fingerprint",
                NumberedBatches.identity().fingerprint()), json.get("tokenizer"));
        assertEquals(Map.of("vocabulary_size", 257, "padded_vocabulary_size", 320, "context_length", 256,
                "channels", 128, "layers", 2, "heads", 4,
                "parameters", GptConfig.preset("tiny", 257).parameterCount()), json.get("config"));
        assertEquals("2026-11-20T22:00:00Z", json.get("created_at"));
        assertEquals("run \"7\"", json.get("run_id"));
        assertEquals(Map.of(Replay.REPLAY_TARGET_KEY, "offsets {0=42}"), json.get("metadata"));
    }

    @Test
    void shouldFallBackToTheFileTimeAndZeroCountsWhenTheMetadataHasNone() throws Exception {
        Path path = write(Map.of(), 0);
        CheckpointSummary summary = CheckpointSummary.read(path);
        assertEquals(0, summary.batchesTrained());
        assertEquals(Files.getLastModifiedTime(path).toInstant(), summary.createdAt());
        assertEquals(Map.of(), summary.offsets());
    }

    @Test
    void shouldRefuseADamagedCheckpointWithTheModelsMessage() throws Exception {
        Path path = write(Map.of(), 0);
        try (var channel = Files.newByteChannel(path, StandardOpenOption.WRITE)) {
            channel.truncate(Files.size(path) / 2);
        }
        assertThrows(CheckpointException.class, () -> CheckpointSummary.read(path));
    }

    private Path write(Map<String, String> metadata, int steps) throws Exception {
        try (Gpt gpt = Gpt.initialize(GptConfig.preset("tiny", 257), new CpuKernels(1), TrainingOptions.defaults(), 3)) {
            for (int step = 0; step < steps; step++) {
                gpt.trainStep(NumberedBatches.tokens(step), NumberedBatches.B, NumberedBatches.T);
            }
            return new CheckpointStore(dir, 3).write(gpt.checkpoint(NumberedBatches.identity(), metadata));
        }
    }
}
