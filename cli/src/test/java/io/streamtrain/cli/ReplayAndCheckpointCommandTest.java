package io.streamtrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code streamtrain checkpoint show} and {@code streamtrain replay} as a user runs them. */
class ReplayAndCheckpointCommandTest {
    private static final String TOPIC = "streamtrain.token-batches";

    @TempDir
    Path directory;

    @Test
    void shouldPrintTheCheckpointAsOneJsonObjectWhenShown() throws Exception {
        Path checkpoint = writeCheckpoint(directory.resolve("step-000000000000.safetensors"),
                Map.of("kafka.offset." + TOPIC + "-0", "41", "batches.trained", "42", "tokens.trained", "10752",
                        "run.id", "run-1", "created.at", "2026-11-20T22:00:00Z"));
        CommandLineRun run = CommandLineRun.of("checkpoint", "show", checkpoint.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        assertEquals(1, run.outLines().size(), run.transcript());
        JsonNode json = new ObjectMapper().readTree(run.out());
        assertEquals(0, json.get("step").asLong());
        assertEquals(42, json.get("batches_trained").asLong());
        assertEquals(10752, json.get("tokens_trained").asLong());
        assertEquals(41, json.get("offsets").get(TOPIC + "-0").asLong());
        assertEquals("byte", json.get("tokenizer").get("name").asText());
        assertEquals(128, json.get("config").get("channels").asInt());
        assertEquals("2026-11-20T22:00:00Z", json.get("created_at").asText());
        assertEquals("run-1", json.get("run_id").asText());
    }

    @Test
    void shouldExitWithFatalCodeNamingThePathWhenTheCheckpointIsMissing() {
        Path missing = directory.resolve("step-000000000007.safetensors");
        CommandLineRun run = CommandLineRun.of("checkpoint", "show", missing.toString());
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().contains(missing.toAbsolutePath() + " is not a file"), run.transcript());
    }

    @Test
    void shouldExitWithUsageCodeUnlessExactlyOneReplayTargetIsGiven() {
        CommandLineRun none = CommandLineRun.of("replay", "--application-id", "trainer");
        assertEquals(2, none.exitCode(), none.transcript());
        assertTrue(none.err().contains("--to-offset") && none.err().contains("--to-earliest"), none.transcript());
        CommandLineRun two = CommandLineRun.of("replay", "--application-id", "trainer", "--to-earliest",
                "--by-duration", "1h");
        assertEquals(2, two.exitCode(), two.transcript());
        assertTrue(two.err().contains("mutually exclusive"), two.transcript());
        CommandLineRun malformed = CommandLineRun.of("replay", "--application-id", "trainer", "--to-offset", "0=5");
        assertEquals(2, malformed.exitCode(), malformed.transcript());
        assertTrue(malformed.err().contains("'0=5' is not PARTITION:OFFSET"), malformed.transcript());
    }

    @Test
    void shouldPrintThePlanAndChangeNothingWhenTheReplayIsADryRun() throws Exception {
        Path checkpoints = directory.resolve("run/checkpoints");
        Files.createDirectories(checkpoints);
        Path checkpoint = writeCheckpoint(checkpoints.resolve("step-000000000003.safetensors"),
                Map.of("kafka.offset." + TOPIC + "-0", "2", "run.id", "run-1"));
        byte[] before = Files.readAllBytes(checkpoint);
        try (TestKafka broker = TestKafka.start()) {
            broker.createTopic(TOPIC, 1);
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(
                    Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers()),
                    new StringSerializer(), new StringSerializer())) {
                for (int i = 0; i < 5; i++) {
                    producer.send(new ProducerRecord<>(TOPIC, 0, "k", "batch " + i)).get();
                }
            }
            CommandLineRun run = CommandLineRun.of("replay", "--application-id", "trainer", "--bootstrap-servers",
                    broker.bootstrapServers(), "--run-dir", directory.resolve("run").toString(), "--to-earliest",
                    "--dry-run");
            assertEquals(0, run.exitCode(), run.transcript());
            assertTrue(run.out().contains("replay of trainer on topic " + TOPIC + " to the earliest retained record"),
                    run.transcript());
            assertTrue(run.out().matches("(?s).*\\n\\s+0\\s+3\\s+0\\s+0\\s+5\\s+5\\n.*"), run.transcript());
            assertTrue(run.out().contains("dry run: nothing changed"), run.transcript());
        }
        assertArrayEquals(before, Files.readAllBytes(checkpoint));
    }

    private static Path writeCheckpoint(Path path, Map<String, String> metadata) throws Exception {
        try (Gpt gpt = Gpt.initialize(GptConfig.preset("tiny", 257), new CpuKernels(1), TrainingOptions.defaults(), 1)) {
            Checkpoints.write(path, gpt.checkpoint(new TokenizerIdentity("byte", 257, "f"), metadata));
            return path;
        }
    }
}
