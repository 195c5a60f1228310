package io.streamtrain.cli;

import io.streamtrain.broker.EmbeddedKafkaBroker;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.HuggingFaceGpt2;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.producer.DocumentProducer;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.tokenizer.HuggingFaceTokenizerFiles;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code streamtrain generate} and {@code streamtrain export} as a user runs them. */
class GenerateAndExportCommandTest {
    private static final String PROMPT = "To be, or";
    private static final Tokenizer BYTE = Tokenizers.open("byte");

    @TempDir
    Path directory;

    @Test
    void shouldGenerateReproduciblyExactlyTheTrainersSampleOfTheSameStepPromptSettingsAndSeed() throws Exception {
        Path runDirectory = directory.resolve("run");
        TextSample sample;
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.startTemporary()) {
            Path corpus = directory.resolve("corpus.txt");
            Files.writeString(corpus, ("To be, or not to be, that is the question: whether 'tis nobler in the mind to "
                    + "suffer the slings and arrows of outrageous fortune. ").repeat(6));
            DocumentProducer.run(ProducerSettings.builder().bootstrapServers(broker.bootstrapServers())
                    .dataset("hamlet").tokenizer("byte").batchRows(2).sequenceLength(32)
                    .inputs(List.of(corpus.toString())).progress("none").build(), quiet());
            Map<String, Object> properties = new HashMap<>();
            properties.put(TrainerConfig.BOOTSTRAP_SERVERS, broker.bootstrapServers());
            properties.put(TrainerConfig.BACKEND, "cpu");
            properties.put(TrainerConfig.CPU_THREADS, 1);
            properties.put(TrainerConfig.BATCH_ROWS, 2);
            properties.put(TrainerConfig.SEQUENCE_LENGTH, 32);
            properties.put(TrainerConfig.MAX_STEPS, 3);
            properties.put(TrainerConfig.SAMPLE_EVERY_STEPS, 3);
            properties.put(TrainerConfig.SAMPLE_MAX_NEW_TOKENS, 24);
            properties.put(TrainerConfig.SAMPLE_FIXED_PROMPT, PROMPT);
            properties.put(TrainerConfig.RUN_DIR, runDirectory.toString());
            Trainer.Recorder recorder = new Trainer.Recorder();
            try (Trainer trainer = new Trainer(new TrainerConfig(properties), quiet())) {
                trainer.addListener(recorder);
                trainer.start();
                assertTrue(trainer.awaitSteps(3, Duration.ofMinutes(3)));
                trainer.stop();
            }
            sample = recorder.samples().stream().filter(s -> s.getPrompt().equals(PROMPT)).findFirst().orElseThrow();
        }
        assertEquals(3, sample.getStep());
        String[] args = {"generate", "--checkpoint", runDirectory.toString(), "--prompt", PROMPT, "--backend", "cpu",
                "--threads", "1", "--seed", Long.toString(sample.getSeed()),
                "--temperature", Float.toString((float) sample.getTemperature()),
                "--top-k", Integer.toString(sample.getTopK()), "--max-tokens", Integer.toString(sample.getMaxNewTokens())};
        CommandLineRun first = CommandLineRun.of(args);
        assertEquals(0, first.exitCode(), first.transcript());
        assertEquals(sample.getGenerated() + System.lineSeparator(), first.out(), first.transcript());
        assertTrue(first.err().contains("step 3, tokenizer byte"), first.transcript());
        CommandLineRun again = CommandLineRun.of(args);
        assertEquals(first.out(), again.out(), "the same seed gives the same text");
    }

    @Test
    void shouldExportACheckpointThatReadsBackBitIdenticallyWithTheTokenizerFilesOfItsTokenizer() throws Exception {
        Path checkpoint = directory.resolve("step-000000000000.safetensors");
        try (Gpt gpt = Gpt.initialize(GptConfig.of(257, 64, 32, 2, 4), new CpuKernels(1), TrainingOptions.defaults(),
                5)) {
            Checkpoints.write(checkpoint, gpt.checkpoint(new TokenizerIdentity(BYTE.name(), BYTE.vocabularySize(),
                    BYTE.fingerprint()), Map.of("run.id", "run-x")));
        }
        Path export = directory.resolve("hf");
        CommandLineRun run = CommandLineRun.of("export", "--format", "hf", "--checkpoint", checkpoint.toString(),
                export.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("exported step 0") && run.out().contains("tokenizer.json"), run.transcript());
        Checkpoint state = Checkpoints.read(checkpoint);
        HuggingFaceGpt2.Pretrained read = HuggingFaceGpt2.read(export);
        assertEquals(state.config(), read.config());
        assertArrayEquals(state.parameters(), read.parameters());
        assertEquals("run-x", read.origin().get("run.id"));
        assertEquals(BYTE.fingerprint(), read.origin().get("tokenizer.fingerprint"));
        assertTrue(HuggingFaceTokenizerFiles.check(BYTE, export), "tokenizer files of the byte tokenizer");

        CommandLineRun foreign = CommandLineRun.of("generate", "--checkpoint", checkpoint.toString(), "--prompt", "x",
                "--tokenizer", "gpt2");
        assertEquals(1, foreign.exitCode(), foreign.transcript());
        assertTrue(foreign.err().contains("is not the one checkpoint"), foreign.transcript());
    }

    private static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
    }
}
