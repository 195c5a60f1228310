package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.model.internal.SplitMix64;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Training on real text: ../shared/data/tinyshakespeare.txt as byte-level ids (the byte value; V = 257 with
 * 256 the end-of-text id, which this text never needs) drives the held-out loss well below ln(V) = 5.55 nats
 * within a thousand tiny steps.
 */
class TinyShakespeareTrainingTest {

    private static final int VOCABULARY = 257;
    private static final int B = 8;
    private static final int T = 32;
    /**
     * Measured (C=48, L=2, NH=4, lr 1e-2 cosine): held-out 2.31 nats after 1000 steps (5-20 s on the 2-core
     * machine, by load), 2.47 after 800 steps of T=64, 2.25 after 1500; a model that learns nothing stays at
     * ln(257) = 5.55. At this size many small steps teach more than fewer larger ones.
     */
    private static final int STEPS = 1000;
    private static final double HELD_OUT_LOSS_BOUND = 2.6;

    @Test
    void shouldDriveTheHeldOutLossWellBelowLnVWhenTrainingOnShakespeare() throws IOException {
        String shared = System.getProperty("streamtrain.shared");
        assumeTrue(shared != null, "system property streamtrain.shared is not set: skipping training on real text");
        Path corpus = Path.of(shared, "data", "tinyshakespeare.txt");
        assumeTrue(Files.isRegularFile(corpus), corpus + " is absent: skipping training on real text");

        byte[] text = Files.readAllBytes(corpus);
        int[] ids = new int[text.length];
        for (int i = 0; i < text.length; i++) {
            ids[i] = text[i] & 0xff; // byte-level ids
        }
        int split = ids.length / 10 * 9; // train on the first 90%, evaluate on the rest

        GptConfig config = GptConfig.of(VOCABULARY, T, 48, 2, 4);
        TrainingOptions options = TrainingOptions.defaults()
                .withSchedule(LearningRateSchedule.cosine(1e-2, 20, STEPS, 0.1));
        SplitMix64 rng = new SplitMix64(2024);
        int[] tokens = new int[B * (T + 1)];
        long start = System.nanoTime();
        double firstLoss;
        double lastLoss = Double.NaN;
        try (Gpt gpt = Gpt.initialize(config, CpuKernels.create(), options, 7)) {
            firstLoss = heldOutLoss(gpt, ids, split, tokens);
            for (int step = 1; step <= STEPS; step++) {
                for (int b = 0; b < B; b++) {
                    int offset = (int) (rng.nextDouble() * (split - T - 1));
                    System.arraycopy(ids, offset, tokens, b * (T + 1), T + 1);
                }
                StepResult result = gpt.trainStep(tokens, B, T);
                assertTrue(result.applied(), "step " + step + " skipped: " + result);
                if (step % 200 == 0) {
                    System.out.printf("shakespeare step %d: train loss %.4f, accuracy %.3f, |g| %.3f, lr %.2e%n",
                            step, result.loss(), result.accuracy(), result.gradientNorm(), result.learningRate());
                }
            }
            lastLoss = heldOutLoss(gpt, ids, split, tokens);
        }
        System.out.printf("shakespeare held-out loss %.4f -> %.4f nats after %d steps of (B=%d, T=%d) in %.1f s%n",
                firstLoss, lastLoss, STEPS, B, T, (System.nanoTime() - start) / 1e9);
        double loss = lastLoss;
        assertTrue(Math.abs(firstLoss - Math.log(VOCABULARY)) < 0.2, "initial loss " + firstLoss + " is not near ln(V)");
        assertTrue(loss < HELD_OUT_LOSS_BOUND, () -> "held-out loss " + loss + " is not below " + HELD_OUT_LOSS_BOUND);
    }

    /** Mean loss over 8 fixed batches of the held-out 10%. */
    private static double heldOutLoss(Gpt gpt, int[] ids, int split, int[] tokens) {
        int batches = 8;
        double sum = 0;
        int stride = (ids.length - split - (T + 1)) / (batches * B);
        for (int i = 0; i < batches; i++) {
            for (int b = 0; b < B; b++) {
                System.arraycopy(ids, split + (i * B + b) * stride, tokens, b * (T + 1), T + 1);
            }
            sum += gpt.evaluate(tokens, B, T).loss();
        }
        return sum / batches;
    }
}
