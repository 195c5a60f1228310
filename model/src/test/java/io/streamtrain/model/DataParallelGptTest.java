package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.cpu.CpuKernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** CPU replicas summed in process: the same training as one model on all the rows, and the same bits every run. */
@Timeout(120)
class DataParallelGptTest {

    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 67, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-2, 2));
    private static final int T = 16;
    private static final int STEPS = 6;

    /** Global batch {@code step}: {@code rows} rows (rows, T+1) of a pattern that changes with the step. */
    private static int[] rows(int step, int first, int rows) {
        return PatternRows.rows(T, step, first, rows);
    }

    private static DataParallelGpt replicas(int n) {
        List<Kernels> kernels = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            kernels.add(new CpuKernels(1));
        }
        return DataParallelGpt.initialize(CONFIG, kernels, OPTIONS, 7);
    }

    /** STEPS global steps of {@code split}[r] rows per replica; returns the losses, leaves the weights in the model. */
    private static double[] train(DataParallelGpt model, int[] split) {
        double[] losses = new double[STEPS];
        for (int step = 0; step < STEPS; step++) {
            int[][] tokens = new int[split.length][];
            int first = 0;
            for (int r = 0; r < split.length; r++) {
                tokens[r] = rows(step, first, split[r]);
                first += split[r];
            }
            StepResult result = model.trainStep(tokens, split, T);
            assertTrue(result.applied());
            losses[step] = result.loss();
        }
        return losses;
    }

    private static float[] weights(DataParallelGpt model, int replica) {
        return model.replica(replica).checkpoint(TOKENIZER, Map.of()).parameters();
    }

    @Test
    void shouldTrainFourReplicasOfTwoRowsLikeOneModelOfEightRowsWithinFloatRounding() {
        try (DataParallelGpt one = replicas(1); DataParallelGpt four = replicas(4)) {
            double[] expected = train(one, new int[] {8});
            double[] actual = train(four, new int[] {2, 2, 2, 2});
            for (int step = 0; step < STEPS; step++) {
                assertEquals(expected[step], actual[step], 1e-5 * Math.abs(expected[step]), "loss of step " + step);
            }
            float[] a = weights(one, 0);
            float[] b = weights(four, 0);
            double largest = 0;
            for (int i = 0; i < a.length; i++) {
                largest = Math.max(largest, Math.abs(a[i] - b[i]));
            }
            // the gradients differ only by the order of their float sums; AdamW moves each weight by <= lr per step
            assertTrue(largest < 1e-4, "largest weight difference " + largest);
            for (int r = 1; r < 4; r++) {
                assertArrayEquals(b, weights(four, r), "replica " + r + " holds replica 0's weights");
            }
            assertEquals(STEPS, four.step());
        }
    }

    @Test
    void shouldSplitTheRowsOfOneBatchOverTheReplicasInOrder() {
        try (DataParallelGpt split = replicas(3); DataParallelGpt given = replicas(3)) {
            for (int step = 0; step < 3; step++) {
                StepResult a = split.trainStep(rows(step, 0, 5), 5, T);
                StepResult b = given.trainStep(new int[][] {rows(step, 0, 2), rows(step, 2, 2), rows(step, 4, 1)},
                        new int[] {2, 2, 1}, T);
                assertEquals(a, b);
            }
            StepResult fewer = split.trainStep(rows(9, 0, 2), 2, T); // the third replica has no row
            assertTrue(fewer.applied());
            assertArrayEquals(weights(split, 0), weights(split, 2));
            assertArrayEquals(new int[] {2, 2, 1}, DataParallelGpt.rowsOf(5, 3));
            assertArrayEquals(new int[] {1, 1, 0}, DataParallelGpt.rowsOf(2, 3));
            for (int r = 0; r < 3; r++) {
                assertTrue(split.reduceNanos(r) > 0, "replica " + r + "'s time in the all-reduces is measured");
            }
        }
    }

    @Test
    void shouldGiveTheSameBitsOnEveryRun() {
        try (DataParallelGpt first = replicas(3); DataParallelGpt second = replicas(3)) {
            int[] split = {3, 1, 2};
            assertArrayEquals(train(first, split), train(second, split));
            assertArrayEquals(weights(first, 0), weights(second, 0));
        }
    }

    @Test
    void shouldTrainLikeOneModelBitForBitWhenOnlyOneReplicaHasRows() {
        try (DataParallelGpt one = replicas(1); DataParallelGpt three = replicas(3)) {
            double[] expected = train(one, new int[] {4});
            double[] actual = train(three, new int[] {0, 4, 0});
            assertArrayEquals(expected, actual, "adding zeros is exact");
            assertArrayEquals(weights(one, 0), weights(three, 0));
            assertArrayEquals(weights(one, 0), weights(three, 2));
        }
    }

    @Test
    void shouldTrainAWorldOfOneBitForBitLikeThePlainStep() {
        try (Gpt plain = Gpt.initialize(CONFIG, new CpuKernels(2), OPTIONS, 7);
             Gpt reduced = Gpt.initialize(CONFIG, new CpuKernels(2), OPTIONS, 7)) {
            GradientReducer alone = InProcessReducer.world(1).get(0);
            for (int step = 0; step < STEPS; step++) {
                StepResult a = plain.trainStep(rows(step, 0, 2), 2, T);
                StepResult b = reduced.trainStep(rows(step, 0, 2), 2, T, 2, alone);
                assertEquals(a, b, "step " + step);
            }
            assertArrayEquals(plain.checkpoint(TOKENIZER, Map.of()).parameters(),
                    reduced.checkpoint(TOKENIZER, Map.of()).parameters());
        }
    }

    @Test
    void shouldStopEveryReplicaWithTheFirstFailureWhenOneReplicaFails() {
        try (DataParallelGpt three = replicas(3)) {
            int[] bad = rows(0, 2, 1);
            bad[5] = 67; // outside the vocabulary
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> three.trainStep(new int[][] {rows(0, 0, 1), rows(0, 1, 1), bad}, new int[] {1, 1, 1}, T));
            assertTrue(e.getMessage().contains("tokens[5] = 67"), e.getMessage());
            IllegalStateException stopped = assertThrows(IllegalStateException.class,
                    () -> three.trainStep(new int[][] {rows(0, 0, 1), rows(0, 1, 1), rows(0, 2, 1)},
                            new int[] {1, 1, 1}, T));
            assertTrue(stopped.getMessage().contains("another replica of the world failed"), stopped.getMessage());
        }
    }

    @Test
    void shouldRefuseAGlobalStepWithoutRowsAndRowsThatDoNotAddUp() {
        try (DataParallelGpt two = replicas(2)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> two.trainStep(new int[][] {new int[0], new int[0]}, new int[] {0, 0}, T));
            assertTrue(e.getMessage().contains("every replica was given 0"), e.getMessage());
        }
        List<InProcessReducer> world = InProcessReducer.world(1);
        try (Gpt gpt = Gpt.initialize(CONFIG, new CpuKernels(1), OPTIONS, 7)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> gpt.trainStep(rows(0, 0, 2), 2, T, 3, world.get(0)));
            assertTrue(e.getMessage().contains("a world of one replica trains all 3 rows"), e.getMessage());
        }
        assertEquals(List.of(0, 1), Arrays.stream(new int[] {0, 1})
                .mapToObj(r -> InProcessReducer.world(2).get(r).rank()).toList());
    }
}
