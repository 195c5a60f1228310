package io.streamtrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.model.GptConfig;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {

    @Test
    void shouldPrintHeaderAndParseableJsonAsLastLineWhenBenchmarkingTinyModelOnCpu() throws Exception {
        CommandLineRun run = CommandLineRun.of("bench", "--backend", "cpu", "--model", "tiny", "--vocab", "512",
                "--batch", "2", "--seq-len", "32", "--steps", "3", "--warmup", "1");
        assertEquals(0, run.exitCode(), run.transcript());
        List<String> lines = run.outLines();
        assertTrue(lines.get(0).startsWith("# streamtrain bench --backend cpu"), run.transcript());
        assertTrue(run.out().contains("# commit:") && run.out().contains("# cpu:") && run.out().contains("# java:"),
                run.transcript());
        for (String line : lines.subList(0, lines.size() - 1)) {
            assertTrue(line.startsWith("#"), "every line before the JSON is a # comment: " + line);
        }

        JsonNode json = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertEquals("cpu", json.get("backend").asText());
        assertEquals("tiny", json.get("model").asText());
        assertEquals(2, json.get("batch").asInt());
        assertEquals(32, json.get("seq_len").asInt());
        assertEquals(512, json.get("vocab").asInt());
        assertEquals(GptConfig.preset("tiny", 512).parameterCount(), json.get("params").asLong());
        assertEquals(0.0, json.get("host_syncs_per_step").asDouble());
        assertTrue(json.get("tokens_per_s").asDouble() > 0, run.out());
        assertTrue(json.get("ms_per_step").asDouble() > 0, run.out());
        assertTrue(json.get("alloc_bytes_per_step").asDouble() >= 0, run.out());
        // Fresh N(0, 0.02) weights predict nearly uniformly: the first loss is close to ln(V).
        assertEquals(Math.log(512), json.get("loss_first").asDouble(), 0.5, run.out());
        assertTrue(Double.isFinite(json.get("loss_last").asDouble()), run.out());
        assertTrue(json.hasNonNull("device") && json.hasNonNull("commit"), run.out());
    }

    @Test
    void shouldTimeTrainingStepsWithDropoutAndSayWhichInTheJson() throws Exception {
        String[] args = {"bench", "--backend", "cpu", "--model", "tiny", "--vocab", "512", "--batch", "2", "--seq-len",
                "32", "--steps", "2", "--warmup", "1"};
        CommandLineRun plain = CommandLineRun.of(args);
        String[] withDropout = java.util.Arrays.copyOf(args, args.length + 2);
        withDropout[args.length] = "--dropout";
        withDropout[args.length + 1] = "0.2";
        CommandLineRun dropped = CommandLineRun.of(withDropout);
        assertEquals(0, dropped.exitCode(), dropped.transcript());
        JsonNode a = new ObjectMapper().readTree(plain.outLines().get(plain.outLines().size() - 1));
        JsonNode b = new ObjectMapper().readTree(dropped.outLines().get(dropped.outLines().size() - 1));
        assertEquals(0.0, a.get("dropout").asDouble());
        assertEquals(0.2, b.get("dropout").asDouble());
        assertTrue(a.get("loss_first").asDouble() != b.get("loss_first").asDouble(), "the same weights and batch, "
                + "another loss with dropout: " + a + " " + b);
    }

    @Test
    void shouldPrintTokensPerSecondAndAllReduceTimeOfTwoCpuReplicas() throws Exception {
        CommandLineRun run = CommandLineRun.of("bench", "--backend", "cpu", "--threads", "2", "--replicas", "2",
                "--model", "tiny", "--vocab", "512", "--batch", "1", "--seq-len", "32", "--steps", "3", "--warmup", "1");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("2 replicas of 1 CPU thread"), run.transcript());
        assertTrue(run.out().contains("B=1 per replica, 2 replicas, global batch 2"), run.transcript());
        List<String> lines = run.outLines();
        JsonNode json = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertEquals(2, json.get("replicas").asInt());
        assertEquals(1, json.get("batch").asInt());
        assertEquals("2 x 1 CPU thread", json.get("device").asText());
        assertTrue(json.get("tokens_per_s").asDouble() > 0, run.out());
        assertTrue(json.get("allreduce_ms").asDouble() > 0, run.out());
        assertEquals(Math.log(512), json.get("loss_first").asDouble(), 0.5, run.out());
    }

    @Test
    void shouldRefuseReplicasOutsideOneToSixtyFour() {
        CommandLineRun run = CommandLineRun.of("bench", "--backend", "cpu", "--replicas", "0");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.transcript().contains("--replicas must be in [1, 64], got 0"), run.transcript());
    }
}
