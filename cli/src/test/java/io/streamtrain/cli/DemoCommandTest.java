package io.streamtrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.cuda.CudaDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/** The demo itself, end to end in this JVM: embedded broker, producer, trainer on the CPU, dashboard. */
class DemoCommandTest {
    private static final int STEPS = 30;

    @Test
    void shouldLeaveThirtyStepsOfMetricsSamplesAndCheckpointWhenDemoRunsOnSampleCorpus(@TempDir Path directory)
            throws Exception {
        Path runDir = directory.resolve("run");
        // Small batches keep the run to seconds on two cores; everything else is the demo's default.
        CommandLineRun run = CommandLineRun.of("demo", "--max-steps", String.valueOf(STEPS), "--model", "tiny",
                "--run-dir", runDir.toString(), "--backend", "cpu", "--batch", "4", "--seq-len", "64",
                "--dashboard-port", "0");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("kafka: embedded KRaft broker at 127.0.0.1:"), run.transcript());
        assertTrue(run.out().contains("dashboard: http://127.0.0.1:"), run.transcript());
        assertTrue(run.out().contains("trained " + STEPS + " steps"), run.transcript());
        assertTrue(run.out().contains("held-out at step " + STEPS + ": loss"), "the demo evaluates its held-out part: "
                + run.transcript());
        assertTrue(run.out().contains("best held-out loss "), run.transcript());

        ObjectMapper json = new ObjectMapper();
        JsonNode metrics = json.readTree(runDir.resolve("metrics_history.json").toFile());
        assertEquals(STEPS, metrics.size(), run.transcript());
        for (int i = 0; i < STEPS; i++) {
            JsonNode step = metrics.get(i);
            assertEquals(i + 1, step.get("step").asLong());
            for (String field : List.of("loss", "accuracy", "learning_rate", "tokens_per_s")) {
                assertTrue(step.get(field).isNumber() && Double.isFinite(step.get(field).asDouble()),
                        field + " of step " + (i + 1) + ": " + step);
            }
        }
        double firstLoss = metrics.get(0).get("loss").asDouble();
        double lastLoss = metrics.get(STEPS - 1).get("loss").asDouble();
        assertTrue(lastLoss < firstLoss - 0.5, "the loss falls on the sample corpus: " + firstLoss + " -> " + lastLoss);

        JsonNode samples = json.readTree(runDir.resolve("text_samples.json").toFile());
        assertFalse(samples.isEmpty(), run.transcript());
        for (JsonNode sample : samples) {
            for (String field : List.of("step", "prompt", "generated", "actual")) {
                assertTrue(sample.hasNonNull(field), field + " in " + sample);
            }
        }

        try (Stream<Path> files = Files.list(runDir.resolve("checkpoints"))) {
            List<Path> checkpoints = files.filter(p -> p.getFileName().toString().endsWith(".safetensors")).toList();
            assertFalse(checkpoints.isEmpty(), "a final checkpoint in " + runDir.resolve("checkpoints"));
            assertTrue(checkpoints.stream().anyMatch(p -> p.getFileName().toString().contains(String.valueOf(STEPS))),
                    "the final checkpoint is of step " + STEPS + ": " + checkpoints);
        }
        assertTrue(metrics.get(STEPS - 1).get("eval_loss").isNumber(), "the last step was evaluated on held-out data");
    }

    @Test
    void demoOnCudaWithoutAGpuFailsAtOnceSayingWhyAndLeavesNoRunDirectory(@TempDir Path directory) {
        assumeFalse(CudaDevice.probe().available(), "this machine has a usable GPU");
        Path runDir = directory.resolve("run");
        long start = System.nanoTime();
        CommandLineRun run = CommandLineRun.of("demo", "--backend", "cuda", "--max-steps", "5", "--no-dashboard",
                "--run-dir", runDir.toString());
        long seconds = (System.nanoTime() - start) / 1_000_000_000L;
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("CUDA cannot be used") && run.err().contains("--backend cpu"), run.transcript());
        assertFalse(Files.exists(runDir), "no run directory for a demo that did not run");
        assertTrue(seconds < 60, "the backend is checked before the broker starts: " + seconds + " s");
    }
}
