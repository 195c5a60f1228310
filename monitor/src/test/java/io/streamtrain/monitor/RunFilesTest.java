package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.evaluated;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static io.streamtrain.monitor.TrainingRecords.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.schemas.TrainingMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunFilesTest {
    @TempDir
    Path runDirectory;

    @Test
    void shouldWriteOneObjectPerStepWithTheDocumentedFieldsWhenAStoreHoldsReplayedRecords() throws Exception {
        RunStore store = new RunStore();
        for (int pass = 0; pass < 2; pass++) {
            for (long step = 1; step <= 5; step++) {
                store.putMetrics(metrics("run-a", step));
            }
        }
        store.putMetrics(evaluated(metrics("run-a", 5), 2.75)); // step 5 was evaluated on held-out data
        store.putMetrics(TrainingMetrics.newBuilder(metrics("run-a", 6, Double.NaN)) // a diverged step: JSON has no NaN
                .setSpike("gradient norm 270.0 is 45.0x its recent average 6.00").build());
        store.putSample(sample("run-a", 5, "Good morrow."));
        RunFiles.write(runDirectory, store);

        JsonNode history = new ObjectMapper().readTree(runDirectory.resolve(RunFiles.METRICS_HISTORY).toFile());
        assertEquals(6, history.size());
        JsonNode first = history.get(0);
        assertEquals(List.of("run_id", "step", "time", "loss", "accuracy", "perplexity", "learning_rate", "gradient_norm", "tokens_per_s",
                "eval_loss", "eval_accuracy", "eval_perplexity", "ranks", "global_rows", "all_reduce_ms", "spike"),
                iterate(first.fieldNames()));
        assertTrue(first.get("ranks").isNull() && first.get("all_reduce_ms").isNull(), "one model: no data-parallel figures");
        assertTrue(first.get("spike").isNull(), "an ordinary step");
        assertEquals("gradient norm 270.0 is 45.0x its recent average 6.00", history.get(5).get("spike").asText());
        assertTrue(first.get("eval_loss").isNull(), "a step not evaluated has no held-out figures");
        assertEquals(2.75, history.get(4).get("eval_loss").asDouble(), 0);
        assertEquals(0.4, history.get(4).get("eval_accuracy").asDouble(), 0);
        assertEquals(Math.exp(2.75), history.get(4).get("eval_perplexity").asDouble(), 1e-12);
        assertEquals(1, first.get("step").asLong());
        assertEquals(metrics("run-a", 1).getLoss(), first.get("loss").asDouble(), 0);
        assertEquals("2026-11-20T12:00:00.250Z", first.get("time").asText());
        assertTrue(history.get(5).get("loss").isNull());

        JsonNode samples = new ObjectMapper().readTree(runDirectory.resolve(RunFiles.TEXT_SAMPLES).toFile());
        assertEquals(List.of("run_id", "step", "time", "prompt", "generated", "actual"), iterate(samples.get(0).fieldNames()));
        assertEquals("Good morrow.", samples.get(0).get("generated").asText());
        try (Stream<Path> files = Files.list(runDirectory)) {
            assertEquals(2, files.count(), "no temporary file is left behind");
        }
        Path reference = Files.writeString(runDirectory.resolve("reference.txt"), "written the usual way");
        assertEquals(Files.getPosixFilePermissions(reference), Files.getPosixFilePermissions(runDirectory.resolve(RunFiles.METRICS_HISTORY)),
            "the files get the permissions of any file the user writes (not the private ones of a temporary file)");
    }

    private static List<String> iterate(java.util.Iterator<String> names) {
        List<String> list = new java.util.ArrayList<>();
        names.forEachRemaining(list::add);
        return list;
    }
}
