package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.cpu.CpuKernels;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Dropout in the model on the CPU backend: where it acts, where it does not, and that its masks replay. */
class GptDropoutTest {

    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-2, 2));
    private static final int B = 2;
    private static final int T = 16;

    private static Gpt model(long seed, double dropout) {
        Gpt gpt = Gpt.initialize(CONFIG, new CpuKernels(2), OPTIONS, seed);
        gpt.dropout(dropout);
        return gpt;
    }

    private static Gpt restore(Checkpoint checkpoint, double dropout) {
        Gpt gpt = Gpt.restore(checkpoint, new CpuKernels(2), OPTIONS);
        gpt.dropout(dropout);
        return gpt;
    }

    private static int[] batch(int shift) {
        return PatternRows.repeating(B, T, shift);
    }

    @Test
    void shouldTrainBitForBitAsAModelWithoutDropoutWhenDropoutIsZero() {
        try (Gpt plain = Gpt.initialize(CONFIG, new CpuKernels(2), OPTIONS, 1); Gpt zero = model(1, 0.0)) {
            for (int i = 0; i < 5; i++) {
                assertEquals(plain.trainStep(batch(i), B, T), zero.trainStep(batch(i), B, T), "step " + (i + 1));
            }
            assertArrayEquals(plain.checkpoint(TOKENIZER, Map.of()).parameters(),
                    zero.checkpoint(TOKENIZER, Map.of()).parameters());
        }
    }

    @Test
    void shouldDropOutInTrainingButNeverInEvaluationOrGeneration() {
        try (Gpt plain = model(2, 0.0)) {
            for (int i = 0; i < 5; i++) {
                plain.trainStep(batch(i), B, T);
            }
            Checkpoint trained = plain.checkpoint(TOKENIZER, Map.of());
            try (Gpt dropped = restore(trained, 0.2)) {
                assertEquals(plain.evaluate(batch(7), B, T), dropped.evaluate(batch(7), B, T));
                assertArrayEquals(plain.logits(new int[T], 1, T), dropped.logits(new int[T], 1, T));
                SamplingOptions sampling = new SamplingOptions(0.9f, 0);
                assertArrayEquals(plain.generate(new int[] {3, 4}, 10, sampling, 5),
                        dropped.generate(new int[] {3, 4}, 10, sampling, 5));
                // training forwards do drop out: another loss and other gradients on the same weights
                double plainLoss = plain.forwardBackward(batch(7), B, T);
                float[] plainGradients = plain.gradients();
                double droppedLoss = dropped.forwardBackward(batch(7), B, T);
                assertNotEquals(plainLoss, droppedLoss);
                assertTrue(maxDifference(plainGradients, dropped.gradients()) > 1e-3);
                // and evaluation right after a training forward still does not
                assertEquals(plain.evaluate(batch(7), B, T), dropped.evaluate(batch(7), B, T));
            }
        }
    }

    @Test
    void shouldDrawTheSameMasksAfterACheckpointRoundTripSoThatAReplayIsBitForBit() {
        try (Gpt original = model(3, 0.2)) {
            for (int i = 0; i < 3; i++) {
                original.trainStep(batch(i), B, T);
            }
            try (Gpt restored = restore(original.checkpoint(TOKENIZER, Map.of()), 0.2);
                 Gpt fresh = model(3, 0.2)) {
                for (int i = 0; i < 3; i++) {
                    fresh.trainStep(batch(i), B, T);
                }
                for (int i = 3; i < 6; i++) {
                    StepResult a = original.trainStep(batch(i), B, T);
                    assertEquals(a, restored.trainStep(batch(i), B, T), "restored, step " + (i + 1));
                    assertEquals(a, fresh.trainStep(batch(i), B, T), "same seed from the start, step " + (i + 1));
                }
                assertArrayEquals(original.checkpoint(TOKENIZER, Map.of()).parameters(),
                        restored.checkpoint(TOKENIZER, Map.of()).parameters());
            }
        }
    }

    @Test
    void shouldDrawOtherMasksOnEveryStepAndForAnotherSeed() {
        try (Gpt a = model(4, 0.2); Gpt b = model(4, 0.2)) {
            Checkpoint start = a.checkpoint(TOKENIZER, Map.of());
            double first = a.forwardBackward(batch(0), B, T);
            a.trainStep(batch(1), B, T);
            try (Gpt rewound = restore(new Checkpoint(CONFIG, TOKENIZER, 1, start.rngState(), start.parameters(),
                    start.m(), start.v(), Map.of()), 0.2);
                 Gpt otherSeed = restore(new Checkpoint(CONFIG, TOKENIZER, 0, start.rngState() + 1,
                         start.parameters(), start.m(), start.v(), Map.of()), 0.2)) {
                assertEquals(first, b.forwardBackward(batch(0), B, T));
                assertNotEquals(first, rewound.forwardBackward(batch(0), B, T), "the masks of step 2");
                assertNotEquals(first, otherSeed.forwardBackward(batch(0), B, T), "another seed's masks");
            }
        }
    }

    @Test
    void shouldRejectADropOutsideZeroToOne() {
        try (Gpt gpt = model(5, 0.0)) {
            assertThrows(IllegalArgumentException.class, () -> gpt.dropout(1.0));
            assertThrows(IllegalArgumentException.class, () -> gpt.dropout(-0.1));
            assertThrows(IllegalArgumentException.class, () -> gpt.dropout(Double.NaN));
        }
    }

    /**
     * The gradients of backward with dropout against central finite differences of the loss with the same masks (a
     * restored model at the same step draws them again), at the largest gradient of every parameter tensor.
     */
    @Test
    void shouldMatchFiniteDifferencesOfTheLossWithTheSameDropoutMasks() {
        float dropout = 0.3f;
        Checkpoint start;
        float[] gradients;
        float[] withoutDropout;
        try (Gpt gpt = model(6, dropout)) {
            for (int i = 0; i < 4; i++) {
                gpt.trainStep(batch(i), B, T);  // away from the initial weights, so that every tensor has gradients
            }
            start = gpt.checkpoint(TOKENIZER, Map.of());
            gpt.forwardBackward(batch(9), B, T);
            gradients = gpt.gradients();
            gpt.dropout(0.0);
            gpt.forwardBackward(batch(9), B, T);
            withoutDropout = gpt.gradients();
        }
        assertTrue(maxDifference(gradients, withoutDropout) > 1e-2, "dropout changes the gradients");
        double h = 1e-2;
        List<String> failures = new ArrayList<>();
        for (ParameterTensor t : ParameterTensor.values()) {
            int offset = (int) t.offset(CONFIG);
            int size = t == ParameterTensor.WTE ? CONFIG.vocabularySize() * CONFIG.channels() : (int) t.size(CONFIG);
            int at = offset;
            for (int i = offset; i < offset + size; i++) {
                at = Math.abs(gradients[i]) > Math.abs(gradients[at]) ? i : at;
            }
            double numeric = (loss(start, at, h, dropout) - loss(start, at, -h, dropout)) / (2 * h);
            double error = Math.abs(numeric - gradients[at]);
            System.out.printf("%-10s element %6d: backward %+.6f, finite differences %+.6f%n", t, at - offset,
                    gradients[at], numeric);
            if (error > 0.02 * Math.abs(gradients[at]) + 2e-4) {
                failures.add(t + " element " + (at - offset) + ": backward " + gradients[at] + ", finite differences "
                        + numeric);
            }
        }
        assertTrue(failures.isEmpty(), () -> String.join("\n", failures));
    }

    /** The loss of forwardBackward on the start checkpoint with parameter {@code at} moved by {@code delta}. */
    private static double loss(Checkpoint start, int at, double delta, float dropout) {
        float[] parameters = start.parameters().clone();
        parameters[at] += (float) delta;
        Checkpoint moved = new Checkpoint(CONFIG, TOKENIZER, start.step(), start.rngState(), parameters, start.m(),
                start.v(), Map.of());
        try (Gpt gpt = restore(moved, dropout)) {
            return gpt.forwardBackward(batch(9), B, T);
        }
    }

    private static double maxDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
