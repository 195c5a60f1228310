package io.streamtrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.cuda.CudaDevice;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

/**
 * {@code streamtrain train} as a user runs it, on the embedded broker: the step limit and the model come from
 * {@code --config FILE} or {@code -c}, and a flag given on the command line overrides both.
 */
class TrainCommandTest {
    private static final String TOPIC = "train-command-test";
    @RegisterExtension
    static final TestKafka broker = TestKafka.perClass();

    @TempDir
    static Path shared;

    @TempDir
    Path directory;

    @BeforeAll
    static void produceBatches() throws Exception {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 60; i++) {
            text.append("Sentence ").append(i).append(" of a document that the trainer reads as token batches. ");
        }
        Path input = Files.writeString(shared.resolve("input.txt"), text);
        CommandLineRun run = CommandLineRun.of("produce", "--input", input.toString(), "--bootstrap-servers",
                broker.bootstrapServers(), "--topic", TOPIC, "--batch", "2", "--seq-len", "16", "--progress", "none");
        assertEquals(0, run.exitCode(), run.transcript());
    }

    private CommandLineRun train(String applicationId, String... args) {
        List<String> words = new ArrayList<>(List.of("train", "--bootstrap-servers", broker.bootstrapServers(),
                "--topic", TOPIC, "--backend", "cpu", "--threads", "2", "--application-id", applicationId,
                "--run-dir", directory.resolve(applicationId).toString()));
        words.addAll(List.of(args));
        return CommandLineRun.of(words.toArray(String[]::new));
    }

    /** The final checkpoint's step and channels, as {@code checkpoint show} prints them. */
    private JsonNode finalCheckpoint(String applicationId, long step) throws Exception {
        Path checkpoint = directory.resolve(applicationId).resolve("checkpoints")
                .resolve(String.format("step-%012d.safetensors", step));
        assertTrue(Files.isRegularFile(checkpoint), "final checkpoint " + checkpoint);
        CommandLineRun show = CommandLineRun.of("checkpoint", "show", checkpoint.toString());
        assertEquals(0, show.exitCode(), show.transcript());
        return new ObjectMapper().readTree(show.out());
    }

    private Path configFile() throws Exception {
        return Files.writeString(directory.resolve("trainer.properties"),
                "model=small\nmax.steps=7\nbatch.rows=2\nsequence.length=16\n");
    }

    @Test
    void shouldTrainTheSmallModelForSevenStepsWhenTheConfigFileSaysSo() throws Exception {
        CommandLineRun run = train("from-file", "--config", configFile().toString());
        assertEquals(0, run.exitCode(), run.transcript());
        JsonNode checkpoint = finalCheckpoint("from-file", 7);
        assertEquals(7, checkpoint.get("step").asLong(), run.transcript());
        assertEquals(384, checkpoint.get("config").get("channels").asInt(), "the small preset: " + checkpoint);
        assertTrue(run.out().contains("trainer configuration:\n"), "the configuration once started: " + run.transcript());
    }

    @Test
    void shouldNameTheMissingVocabularyWithoutAConfigurationDumpBeforeItWhenTheTrainerCannotStart() {
        Path vocabulary = directory.resolve("no-such-vocabulary.json");
        CommandLineRun run = train("bad-tokenizer", "--tokenizer", vocabulary.toString(), "--max-steps", "1");
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("there is no file " + vocabulary), run.transcript());
        assertFalse(run.transcript().contains("trainer configuration"), "a dump before the error:\n" + run.transcript());
    }

    @Test
    void shouldFailAtOnceOnCudaWithoutAGpuLeavingNoRunDirectory() {
        assumeFalse(CudaDevice.probe().available(), "this machine has a usable GPU");
        List<String> words = new ArrayList<>(List.of("train", "--bootstrap-servers", broker.bootstrapServers(),
                "--topic", TOPIC, "--backend", "cuda", "--application-id", "on-cuda",
                "--run-dir", directory.resolve("on-cuda").toString()));
        CommandLineRun run = CommandLineRun.of(words.toArray(String[]::new));
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("backend cuda requested but CUDA cannot be used"), run.transcript());
        assertFalse(Files.exists(directory.resolve("on-cuda")), "an empty run directory left behind");
    }

    @Test
    void shouldTrainTheSmallModelForSevenStepsWhenDashCSaysSo() throws Exception {
        CommandLineRun run = train("from-dash-c", "-c", "max.steps=7", "-c", "model=small", "--batch", "2",
                "--seq-len", "16");
        assertEquals(0, run.exitCode(), run.transcript());
        JsonNode checkpoint = finalCheckpoint("from-dash-c", 7);
        assertEquals(384, checkpoint.get("config").get("channels").asInt(), "the small preset: " + checkpoint);
    }

    @Test
    void shouldStopAtTheFlagsStepLimitWhenAFlagOverridesTheConfigFileAndDashC() throws Exception {
        CommandLineRun run = train("from-flag", "--config", configFile().toString(), "-c", "max.steps=5",
                "--max-steps", "3", "--model", "tiny");
        assertEquals(0, run.exitCode(), run.transcript());
        JsonNode checkpoint = finalCheckpoint("from-flag", 3);
        assertEquals(3, checkpoint.get("step").asLong(), run.transcript());
        assertEquals(128, checkpoint.get("config").get("channels").asInt(), "the tiny preset: " + checkpoint);
    }
}
