package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.model.internal.SplitMix64;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model's life cycle on the CPU backend: training state, checkpoints, generation. */
class GptTest {

    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-2, 2));
    private static final int B = 2;
    private static final int T = 16;

    @TempDir
    Path directory;

    private static Gpt model(long seed) {
        return Gpt.initialize(CONFIG, new CpuKernels(2), OPTIONS, seed);
    }

    private static int[] batch(int shift) {
        return PatternRows.repeating(B, T, shift);
    }

    @Test
    void shouldInitializeIdenticallyFromTheSameSeedAndDifferentlyFromAnother() {
        try (Gpt a = model(5); Gpt b = model(5); Gpt c = model(6)) {
            Checkpoint ca = a.checkpoint(TOKENIZER, Map.of());
            assertArrayEquals(ca.parameters(), b.checkpoint(TOKENIZER, Map.of()).parameters());
            assertFalse(java.util.Arrays.equals(ca.parameters(), c.checkpoint(TOKENIZER, Map.of()).parameters()));
            // N(0, 0.02) on the matrices: the sample standard deviation of qkvw is close to 0.02
            float[] p = ca.parameters();
            int offset = (int) ParameterTensor.QKVW.offset(CONFIG);
            int size = (int) ParameterTensor.QKVW.size(CONFIG);
            double sum = 0;
            double squares = 0;
            for (int i = offset; i < offset + size; i++) {
                sum += p[i];
                squares += (double) p[i] * p[i];
            }
            double std = Math.sqrt(squares / size - (sum / size) * (sum / size));
            assertEquals(0.02, std, 0.001);
            assertEquals(1.0f, p[(int) ParameterTensor.LN1W.offset(CONFIG)]);
            assertEquals(0.0f, p[(int) ParameterTensor.QKVB.offset(CONFIG)]);
            assertEquals(0.0f, p[(int) ParameterTensor.WTE.offset(CONFIG) + CONFIG.vocabularySize() * 32]);
        }
    }

    @Test
    void shouldLowerTheLossAndCountStepsWhenTraining() {
        try (Gpt gpt = model(1)) {
            StepResult first = gpt.trainStep(batch(0), B, T);
            StepResult last = first;
            for (int i = 0; i < 20; i++) {
                last = gpt.trainStep(batch(0), B, T);
            }
            assertEquals(Math.log(67), first.loss(), 0.1);
            assertTrue(last.loss() < first.loss() - 1.0, "loss " + first.loss() + " -> " + last.loss());
            assertTrue(last.accuracy() > first.accuracy());
            assertEquals(21, gpt.step());
            assertEquals(0.5e-2, first.learningRate(), 1e-12); // warm-up: step 1 of 2
            assertEquals(1e-2, last.learningRate(), 1e-12);
            assertTrue(first.applied() && first.gradientNorm() > 0);
            EvalResult eval = gpt.evaluate(batch(0), B, T);
            assertTrue(eval.loss() < last.loss());
        }
    }

    @Test
    void shouldContinueTrainingIdenticallyAfterACheckpointRoundTrip() throws IOException {
        Path file = directory.resolve("model.safetensors");
        try (Gpt original = model(3)) {
            for (int i = 0; i < 3; i++) {
                original.trainStep(batch(i), B, T);
            }
            Checkpoints.write(file, original.checkpoint(TOKENIZER, Map.of("offset", "3")));
            try (Gpt restored = Gpt.restore(Checkpoints.read(file, CONFIG, TOKENIZER), new CpuKernels(2), OPTIONS)) {
                assertEquals(3, restored.step());
                for (int i = 3; i < 6; i++) {
                    StepResult a = original.trainStep(batch(i), B, T);
                    StepResult b = restored.trainStep(batch(i), B, T);
                    assertEquals(a, b, "step " + (i + 1));
                }
                Checkpoint ca = original.checkpoint(TOKENIZER, Map.of());
                Checkpoint cb = restored.checkpoint(TOKENIZER, Map.of());
                assertArrayEquals(ca.parameters(), cb.parameters());
                assertArrayEquals(ca.m(), cb.m());
                assertArrayEquals(ca.v(), cb.v());
                assertEquals(ca.rngState(), cb.rngState());
                assertEquals(6, cb.step());
            }
        }
    }

    @Test
    void shouldSkipTheUpdateWhenTheGradientIsNotFinite() {
        try (Gpt gpt = model(4)) {
            Checkpoint before = gpt.checkpoint(TOKENIZER, Map.of());
            float[] poisoned = before.parameters().clone();
            poisoned[(int) ParameterTensor.LNFW.offset(CONFIG)] = Float.NaN;
            Checkpoint nan = new Checkpoint(CONFIG, TOKENIZER, 0, 0, poisoned, before.m(), before.v(), Map.of());
            try (Gpt broken = Gpt.restore(nan, new CpuKernels(1), OPTIONS)) {
                StepResult result = broken.trainStep(batch(0), B, T);
                assertFalse(result.applied());
                assertEquals(0, broken.step());
                assertArrayEquals(before.m(), broken.checkpoint(TOKENIZER, Map.of()).m());
            }
        }
    }

    @Test
    void shouldRejectIdsOutsideTheVocabularyNamingThePosition() {
        try (Gpt gpt = model(1)) {
            int[] tokens = batch(0);
            tokens[5] = 67;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpt.trainStep(tokens, B, T));
            assertTrue(e.getMessage().contains("tokens[5] = 67"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> gpt.trainStep(batch(0), B, T + 1));
        }
    }

    @Test
    void shouldEvaluateABatchAlikeWhateverBatchShapesCameBefore() {
        try (Gpt gpt = model(2)) {
            EvalResult expected = gpt.evaluate(batch(0), B, T);
            gpt.evaluate(java.util.Arrays.copyOf(batch(1), 9), 1, 8);   // smaller: reuses the buffers
            gpt.trainStep(java.util.Arrays.copyOf(batch(1), 9), 1, 8);
            try (Gpt fresh = model(2)) {
                fresh.trainStep(java.util.Arrays.copyOf(batch(1), 9), 1, 8);
                EvalResult afterStep = fresh.evaluate(batch(0), B, T); // larger again: new buffers
                assertEquals(afterStep, gpt.evaluate(batch(0), B, T));
                assertNotEquals(expected, afterStep);
            }
        }
    }

    @Test
    void shouldAllocateAlmostNothingOnTheHeapPerTrainingStep() {
        var threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long thread = Thread.currentThread().getId();
        try (Gpt gpt = model(1)) {
            int[] tokens = batch(0);
            for (int i = 0; i < 20; i++) { // warm-up: activations, kernel scratch, JIT
                gpt.trainStep(tokens, B, T);
            }
            int steps = 50;
            long before = threads.getThreadAllocatedBytes(thread);
            for (int i = 0; i < steps; i++) {
                gpt.trainStep(tokens, B, T);
            }
            long perStep = (threads.getThreadAllocatedBytes(thread) - before) / steps;
            // the StepResult is about 56 bytes; measured 60 bytes per step (tiny preset, B=16, T=256, V=8192)
            assertTrue(perStep < 256, perStep + " bytes allocated per training step");
        }
    }

    // ---- generation ----------------------------------------------------------------------------

    /** A model trained for a few steps, so that its distributions are not flat. */
    private static Gpt trainedModel() {
        Gpt gpt = model(9);
        for (int i = 0; i < 10; i++) {
            gpt.trainStep(batch(i), B, T);
        }
        return gpt;
    }

    @Test
    void shouldGenerateTheSameTokensFromTheSameSeed() {
        try (Gpt gpt = trainedModel()) {
            SamplingOptions sampling = new SamplingOptions(1.0f, 0);
            int[] prompt = {3, 10, 6};
            int[] a = gpt.generate(prompt, 12, sampling, 77);
            int[] b = gpt.generate(prompt, 12, sampling, 77);
            int[] c = gpt.generate(prompt, 12, sampling, 78);
            assertEquals(12, a.length);
            assertArrayEquals(a, b);
            assertFalse(java.util.Arrays.equals(a, c), "seeds 77 and 78 gave the same 12 tokens");
            for (int id : a) {
                assertTrue(id >= 0 && id < CONFIG.vocabularySize(), "id " + id);
            }
        }
    }

    @Test
    void shouldStreamEachNewIdAsSampledAndTheSameIdsAsWithoutStreaming() {
        try (Gpt gpt = trainedModel()) {
            SamplingOptions sampling = new SamplingOptions(0.9f, 5);
            int[] prompt = {3, 10, 6};
            java.util.List<Integer> streamed = new java.util.ArrayList<>();
            int[] returned = gpt.generate(prompt, 12, sampling, 77, streamed::add);
            assertArrayEquals(gpt.generate(prompt, 12, sampling, 77), returned);
            assertArrayEquals(returned, streamed.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    @Test
    void shouldGenerateGreedilyTheSameTokensWhateverTheSeed() {
        try (Gpt gpt = trainedModel()) {
            SamplingOptions greedy = new SamplingOptions(0f, 0);
            assertArrayEquals(gpt.generate(new int[] {3}, 10, greedy, 1), gpt.generate(new int[] {3}, 10, greedy, 2));
        }
    }

    @Test
    void shouldGenerateWithTheKvCacheWhatAFullReForwardGenerates() {
        try (Gpt gpt = trainedModel()) {
            int[] prompt = {3, 10, 6, 13};
            int newTokens = 11;
            int[] cached = gpt.generate(prompt, newTokens, new SamplingOptions(0f, 0), 0);
            assertArrayEquals(greedyByFullForward(gpt, prompt, newTokens), cached);
        }
    }

    /** Greedy decoding by running the whole sequence again for every token (no cache): the reference. */
    private static int[] greedyByFullForward(Gpt gpt, int[] prompt, int newTokens) {
        int contextLength = CONFIG.contextLength();
        int Vp = CONFIG.paddedVocabularySize();
        int[] sequence = new int[contextLength]; // (1, T) zero-padded on the right: causal attention ignores it
        System.arraycopy(prompt, 0, sequence, 0, prompt.length);
        int length = prompt.length;
        int[] generated = new int[newTokens];
        for (int i = 0; i < newTokens; i++) {
            float[] logits = gpt.logits(sequence, 1, contextLength); // (1, T, Vp)
            int best = 0;
            for (int id = 1; id < CONFIG.vocabularySize(); id++) {
                if (logits[(length - 1) * Vp + id] > logits[(length - 1) * Vp + best]) {
                    best = id;
                }
            }
            generated[i] = best;
            sequence[length++] = best;
        }
        return generated;
    }

    @Test
    void shouldCropThePromptFromTheLeftToFitTheContext() {
        try (Gpt gpt = trainedModel()) {
            SamplingOptions greedy = new SamplingOptions(0f, 0);
            int[] longPrompt = new int[30];
            for (int i = 0; i < longPrompt.length; i++) {
                longPrompt[i] = (i * 5) % 60 + 1;
            }
            int newTokens = 6; // context 16: the last 10 prompt ids are kept
            int[] kept = java.util.Arrays.copyOfRange(longPrompt, 30 - 10, 30);
            assertArrayEquals(gpt.generate(kept, newTokens, greedy, 0), gpt.generate(longPrompt, newTokens, greedy, 0));
            assertEquals(15, gpt.generate(longPrompt, 15, greedy, 0).length);
            assertThrows(IllegalArgumentException.class, () -> gpt.generate(longPrompt, 16, greedy, 0));
            assertThrows(IllegalArgumentException.class, () -> gpt.generate(new int[0], 1, greedy, 0));
            assertEquals(0, gpt.generate(longPrompt, 0, greedy, 0).length);
        }
    }

    @Test
    void shouldNotChangeTheModelWhenGenerating() {
        try (Gpt gpt = trainedModel()) {
            Checkpoint before = gpt.checkpoint(TOKENIZER, Map.of());
            EvalResult evalBefore = gpt.evaluate(batch(0), B, T);
            gpt.generate(new int[] {4, 5}, 8, new SamplingOptions(0.8f, 5), 3);
            assertArrayEquals(before.parameters(), gpt.checkpoint(TOKENIZER, Map.of()).parameters());
            assertEquals(evalBefore, gpt.evaluate(batch(0), B, T));
            assertNotEquals(0, new SplitMix64(1).nextLong());
        }
    }
}
