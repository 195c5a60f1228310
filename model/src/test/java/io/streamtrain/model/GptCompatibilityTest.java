package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The whole model on a backend against the golden state computed by PyTorch in float64
 * ({@link GoldenState}): logits, loss, every named gradient and the losses of ten AdamW steps. Every
 * backend extends this class with {@link #createKernels()}; a backend with another precision (bf16 on
 * the GPU) overrides the tolerances. Each check prints the max difference per named tensor.
 *
 * <p>Differences are relative to the tensor's scale: max |actual - expected| / max |expected|; losses
 * are compared in absolute nats. A backend that may be absent (no GPU) skips with a visible reason from a
 * {@code @BeforeAll} method of its subclass ({@code Assumptions.assumeTrue(available, reason)}); this class
 * runs with one test instance per class, so that method need not be static.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class GptCompatibilityTest {

    private GoldenState golden;
    private final List<String> report = new ArrayList<>();

    /** A fresh backend; the test closes it. */
    protected abstract Kernels createKernels();

    /** Max relative difference of the logits. */
    protected double logitsTolerance() {
        return 1e-5;
    }

    /** Max absolute difference of the initial loss, in nats. */
    protected double lossTolerance() {
        return 1e-5;
    }

    /** Max relative difference of each named gradient. */
    protected double gradientTolerance() {
        return 1e-5;
    }

    /** Max absolute difference of each of the ten training losses, in nats. */
    protected double trainingLossTolerance() {
        return 1e-4;
    }

    @BeforeAll
    void loadGoldenState() {
        golden = GoldenState.load();
    }

    @AfterAll
    void printReport() {
        System.out.println("golden state on " + getClass().getSimpleName() + " (max difference per named tensor):");
        report.forEach(line -> System.out.println("  " + line));
    }

    private Gpt restore() {
        return Gpt.restore(golden.initial, createKernels(), golden.options);
    }

    @Test
    public void shouldMatchGoldenLogits() {
        int B = golden.batch;
        int T = golden.sequenceLength;
        int V = GoldenState.CONFIG.vocabularySize();
        int Vp = GoldenState.CONFIG.paddedVocabularySize();
        int[] inputs = new int[B * T];
        for (int b = 0; b < B; b++) {
            System.arraycopy(golden.tokens, b * (T + 1), inputs, b * T, T);
        }
        float[] logits;
        try (Gpt gpt = restore()) {
            logits = gpt.logits(inputs, B, T);
        }
        float[] real = new float[B * T * V]; // (B, T, V): the padding columns are not logits of any id
        for (int position = 0; position < B * T; position++) {
            System.arraycopy(logits, position * Vp, real, position * V, V);
        }
        assertClose("logits", golden.logits, real, logitsTolerance());
    }

    @Test
    public void shouldMatchGoldenLoss() {
        EvalResult result;
        try (Gpt gpt = restore()) {
            result = gpt.evaluate(golden.tokens, golden.batch, golden.sequenceLength);
        }
        double difference = Math.abs(result.loss() - golden.loss);
        report.add(String.format("%-28s %.3e nats (%.9f vs %.9f)", "loss", difference, result.loss(), golden.loss));
        assertTrue(difference <= lossTolerance(), () -> "loss " + result.loss() + " differs from the golden "
                + golden.loss + " by " + difference + " > " + lossTolerance());
    }

    @Test
    public void shouldMatchEveryGoldenGradient() {
        GptConfig config = GoldenState.CONFIG;
        float[] gradients;
        double loss;
        try (Gpt gpt = restore()) {
            loss = gpt.forwardBackward(golden.tokens, golden.batch, golden.sequenceLength);
            gradients = gpt.gradients();
        }
        assertEquals(golden.loss, loss, lossTolerance(), "loss of forwardBackward");
        List<String> failures = new ArrayList<>();
        int compared = 0;
        for (ParameterTensor t : ParameterTensor.values()) {
            int layers = t.perLayer() ? config.layers() : 1;
            for (int l = 0; l < layers; l++) {
                String name = t.stateDictName(l);
                float[] expected = golden.gradients.get(name);
                if (expected == null) {
                    failures.add(name + " is missing from the golden state");
                    continue;
                }
                int offset = (int) (t.offset(config) + l * t.layerSize(config));
                float[] actual = new float[expected.length]; // wte: its V real rows only
                System.arraycopy(gradients, offset, actual, 0, expected.length);
                String failure = compare("grad " + name, expected, actual, gradientTolerance());
                if (failure != null) {
                    failures.add(failure);
                }
                compared++;
            }
        }
        assertEquals(golden.gradients.size(), compared, "named gradients compared");
        assertTrue(failures.isEmpty(), () -> String.join("\n", failures));
    }

    @Test
    public void shouldMatchGoldenLossesOfTenAdamwSteps() {
        float[] losses = new float[golden.losses.length];
        try (Gpt gpt = restore()) {
            for (int i = 0; i < losses.length; i++) {
                StepResult result = gpt.trainStep(golden.tokens, golden.batch, golden.sequenceLength);
                assertTrue(result.applied(), "step " + (i + 1) + " was skipped: " + result);
                losses[i] = (float) result.loss();
            }
            assertEquals(losses.length, gpt.step());
        }
        double worst = 0;
        for (int i = 0; i < losses.length; i++) {
            worst = Math.max(worst, Math.abs(losses[i] - golden.losses[i]));
        }
        report.add(String.format("%-28s %.3e nats (last %.9f vs %.9f)", "losses of " + losses.length + " steps",
                worst, losses[losses.length - 1], golden.losses[losses.length - 1]));
        double max = worst;
        assertTrue(max <= trainingLossTolerance(), () -> "training losses differ from the golden ones by up to " + max
                + " > " + trainingLossTolerance() + ":\n  actual   " + java.util.Arrays.toString(losses)
                + "\n  expected " + java.util.Arrays.toString(golden.losses));
    }

    /**
     * Greedy generation (KV cache, on-device sampling) from the golden weights after the ten AdamW steps
     * gives the same tokens as the CPU reference.
     */
    @Test
    public void shouldGenerateGreedilyTheSameTokensAsTheCpuReference() {
        int[] prompt = java.util.Arrays.copyOf(golden.tokens, 5);
        SamplingOptions greedy = new SamplingOptions(0f, 0);
        int[] expected;
        try (Gpt reference = Gpt.restore(golden.initial, new io.streamtrain.model.cpu.CpuKernels(1), golden.options)) {
            trainOnGoldenBatch(reference);
            expected = reference.generate(prompt, 10, greedy, 0);
        }
        int[] actual;
        try (Gpt gpt = restore()) {
            trainOnGoldenBatch(gpt);
            actual = gpt.generate(prompt, 10, greedy, 0);
        }
        report.add(String.format("%-28s %s (CPU reference %s)", "greedy generation", java.util.Arrays.toString(actual),
                java.util.Arrays.toString(expected)));
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual, "greedy tokens");
    }

    private void trainOnGoldenBatch(Gpt gpt) {
        for (int i = 0; i < golden.losses.length; i++) {
            gpt.trainStep(golden.tokens, golden.batch, golden.sequenceLength);
        }
    }

    private void assertClose(String name, float[] expected, float[] actual, double tolerance) {
        String failure = compare(name, expected, actual, tolerance);
        assertTrue(failure == null, failure);
    }

    /** Records the difference of one named tensor; returns a failure message or null. NaN never passes. */
    private String compare(String name, float[] expected, float[] actual, double tolerance) {
        double maxDifference = 0;
        double scale = 0;
        int worstIndex = 0;
        for (int i = 0; i < expected.length; i++) {
            double difference = Math.abs((double) actual[i] - expected[i]);
            if (!(difference <= maxDifference)) { // NaN lands here and stays
                maxDifference = Double.isNaN(difference) ? Double.NaN : difference;
                worstIndex = i;
                if (Double.isNaN(difference)) {
                    break;
                }
            }
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        double relative = maxDifference / Math.max(scale, 1e-30);
        report.add(String.format("%-28s max |diff| %.3e, relative %.3e (scale %.3e)", name, maxDifference, relative,
                scale));
        if (relative <= tolerance) {
            return null;
        }
        return String.format("%s differs from the golden state: max |diff| %.3e at element %d (%s vs %s), "
                + "relative %.3e > %.1e", name, maxDifference, worstIndex, actual[worstIndex], expected[worstIndex],
                relative, tolerance);
    }
}
