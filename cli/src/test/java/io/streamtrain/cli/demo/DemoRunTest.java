package io.streamtrain.cli.demo;

import io.streamtrain.trainer.TrainerConfig;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoRunTest {

    @Test
    void shouldReadByteTokenizedInputsEnoughTimesForEveryStep() {
        // 200 steps of 8 x 256 need 409,601 stream tokens; 54,000 bytes give at least 54,000 byte tokens per reading.
        assertEquals(8, DemoRun.epochs("byte", 54_000, 200L * 8 * 256 + 1));
    }

    @Test
    void shouldAssumeFewerTokensPerByteForBpeTokenizers() {
        // at least one token per 8 bytes: 6,750 tokens per reading
        assertEquals(62, DemoRun.epochs("gpt2", 54_000, 200L * 8 * 256 + 1));
    }

    @Test
    void shouldAddTwoPercentWhenTheEstimateIsTight() {
        assertEquals(2, DemoRun.epochs("byte", 1_000, 1_000));
    }

    @Test
    void shouldLearnWithShuffled32By64BatchesAWarmUpAndACosineDecayByDefault() {
        Map<String, Object> defaults = DemoCommand.DEFINITION.defaultValues();
        assertEquals(32, defaults.get(TrainerConfig.BATCH_ROWS));
        assertEquals(64, defaults.get(TrainerConfig.SEQUENCE_LENGTH));
        assertEquals(2e-3, defaults.get(TrainerConfig.LEARNING_RATE));
        DemoRun run = new DemoRun(new DemoRun.Settings("tiny", "byte", "cpu", 1, 32, 64, 200, 40, List.of(), Path.of("run"),
                null, "", -1, 1337, 2e-3), new PrintWriter(new StringWriter()));
        TrainerConfig trainer = new TrainerConfig(run.trainerProperties("127.0.0.1:9092", "batches", "eval", "demo"));
        assertEquals(20, trainer.learningRateWarmupSteps());
        assertEquals("cosine", trainer.learningRateDecay());
        assertEquals(200, trainer.learningRateDecaySteps(), "down to a tenth at max-steps");
        assertTrue(run.producerSettings("127.0.0.1:9092", "batches", "eval", List.of(Path.of("corpus")), 9).shuffleRows() > 0,
                "batches of windows from all over the corpus, not neighbours of one document");
    }

    @Test
    void shouldWarmUpForLessThanMaxStepsInAShortDemo() {
        DemoRun run = new DemoRun(new DemoRun.Settings("tiny", "byte", "cpu", 1, 4, 64, 5, 1, List.of(), Path.of("run"),
                null, "", -1, 1337, 2e-3), new PrintWriter(new StringWriter()));
        assertEquals(4, new TrainerConfig(run.trainerProperties("127.0.0.1:9092", "b", "e", "demo")).learningRateWarmupSteps());
    }

    @Test
    void shouldReadOnceWhenInputsAreLargerThanTheRunNeeds() {
        assertEquals(1, DemoRun.epochs("byte", 1_000_000_000L, 1_000));
    }
}
