package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.streamtrain.model.cpu.CpuKernels;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A resident evaluation set on the CPU backend: its figures are the mean of per-batch evaluations, and nothing moves. */
class EvaluationSetTest {
    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final int B = 2;
    private static final int T = 16;

    private static int[] batch(Random random) {
        int[] tokens = new int[B * (T + 1)];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(67);
        }
        return tokens;
    }

    private static Gpt model() {
        return Gpt.initialize(CONFIG, new CpuKernels(2), TrainingOptions.defaults(), 3);
    }

    @Test
    void shouldGiveTheMeanOfThePerBatchLossesComputedWithoutAnUpdate() {
        Random random = new Random(1);
        int[][] batches = {batch(random), batch(random), batch(random)};
        try (Gpt gpt = model()) {
            gpt.trainStep(batch(random), B, T); // not at initialization: a model that learned something
            float[] before = gpt.checkpoint(TOKENIZER, Map.of()).parameters();
            double loss = 0;
            double accuracy = 0;
            for (int[] tokens : batches) {
                EvalResult one = gpt.evaluate(tokens, B, T);
                loss += one.loss() / batches.length;
                accuracy += one.accuracy() / batches.length;
            }
            EvaluationSet set = gpt.evaluationSet(4, B, T);
            for (int[] tokens : batches) {
                set.add(tokens);
            }

            EvalResult all = gpt.evaluate(set);

            assertEquals(loss, all.loss(), 1e-5);
            assertEquals(accuracy, all.accuracy(), 1e-6);
            assertEquals(3L * B * T, set.tokens());
            assertArrayEquals(before, gpt.checkpoint(TOKENIZER, Map.of()).parameters(), "no update");
            assertEquals(1, gpt.step());
            assertEquals(all, gpt.evaluate(set), "the same figures every time");
        }
    }

    @Test
    void shouldLeaveTrainingAsIfNoEvaluationHadRun() {
        Random random = new Random(2);
        int[] first = batch(random);
        int[] second = batch(random);
        int[] held = batch(random);
        try (Gpt evaluated = model(); Gpt plain = model()) {
            EvaluationSet set = evaluated.evaluationSet(1, B, T);
            set.add(held);
            evaluated.trainStep(first, B, T);
            evaluated.evaluate(set);
            StepResult a = evaluated.trainStep(second, B, T);
            plain.trainStep(first, B, T);
            StepResult b = plain.trainStep(second, B, T);

            assertEquals(b, a);
            assertArrayEquals(plain.checkpoint(TOKENIZER, Map.of()).parameters(),
                    evaluated.checkpoint(TOKENIZER, Map.of()).parameters());
        }
    }

    @Test
    void shouldRefuseAnEmptySetAndABatchOfAnotherShape() {
        try (Gpt gpt = model()) {
            EvaluationSet set = gpt.evaluationSet(1, B, T);
            assertThrows(IllegalArgumentException.class, () -> gpt.evaluate(set));
            assertThrows(IllegalArgumentException.class, () -> set.add(new int[B * T]));
            set.add(new int[B * (T + 1)]);
            assertThrows(IllegalStateException.class, () -> set.add(new int[B * (T + 1)]));
        }
    }
}
