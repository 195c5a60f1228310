package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Training steps replayed as CUDA graphs ({@link CudaKernels#captureStep}) against the same steps launched kernel by
 * kernel, from the same checkpoint on the same batches.
 *
 * <p>Bit for bit: the direct path itself is only reproducible where no floating-point atomic has more than two
 * addends (a + b = b + a exactly; three or more depend on their order). With B * T = 2 positions, C = 32 and
 * Vp = 128 that holds for every kernel (one layernorm-backward block with two rows, no K splits, at most two
 * rows per token in the embedding backward), so the graph path must give the same losses, gradient norms and
 * weights exactly; the test checks the direct path against itself first. At a realistic shape the atomics make
 * any two runs differ in the last bits, so there the check is a tolerance far below what a stale argument gives.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaStepGraphTest {
    /** The learning rate changes every step (warm-up, then cosine): the graph's AdamW arguments must follow. */
    private static final TrainingOptions OPTIONS = TrainingOptions.defaults()
            .withSchedule(LearningRateSchedule.cosine(1e-2, 4, 14, 0.1));

    /** What a run gives: per step loss and gradient norm, then the weights and moments at the end. */
    private record Run(float[] losses, float[] gradientNorms, Checkpoint end, long graphLaunches, long graphCaptures,
                       long argumentUpdates, long synchronizations, long hostToDeviceCopies) {
    }

    private static Checkpoint initialOnCpu(GptConfig config) {
        try (Gpt gpt = Gpt.initialize(config, new CpuKernels(2), OPTIONS, 42)) {
            return gpt.checkpoint(new TokenizerIdentity("test-random", config.vocabularySize(), "none"), Map.of());
        }
    }

    /** Trains from {@code start} on {@code shapes[i] = {B, T}}, with step graphs on or off. */
    private static Run train(Checkpoint start, int[][] shapes, boolean graphs, long pipelinedThreshold) {
        Random random = new Random(7);
        float[] losses = new float[shapes.length];
        float[] norms = new float[shapes.length];
        try (CudaKernels kernels = CudaKernels.open(0)) {
            kernels.stepGraphs(graphs);
            kernels.pipelinedMatmulThreshold(pipelinedThreshold);
            Gpt gpt = Gpt.restore(start, kernels, OPTIONS);
            long synchronizations = kernels.hostSynchronizations();
            long copies = kernels.hostToDeviceCopies();
            for (int i = 0; i < shapes.length; i++) {
                int B = shapes[i][0];
                int T = shapes[i][1];
                int[] tokens = new int[B * (T + 1)];
                for (int j = 0; j < tokens.length; j++) {
                    tokens[j] = random.nextInt(start.config().vocabularySize());
                }
                StepResult result = gpt.trainStep(tokens, B, T);
                assertTrue(result.applied(), "step " + i + " was applied: " + result);
                losses[i] = (float) result.loss();
                norms[i] = (float) result.gradientNorm();
            }
            synchronizations = kernels.hostSynchronizations() - synchronizations;
            copies = kernels.hostToDeviceCopies() - copies;
            Checkpoint end = gpt.checkpoint(start.tokenizer(), Map.of());
            return new Run(losses, norms, end, kernels.stepGraphLaunches(), kernels.stepGraphCaptures(),
                    kernels.stepGraphArgumentUpdates(), synchronizations, copies);
        }
    }

    @Test
    void shouldTrainBitForBitLikeTheDirectLaunchesWhenStepsAreReplayedAsGraphs() {
        GptConfig config = GptConfig.of(100, 8, 32, 2, 4); // Vp = 128
        Checkpoint start = initialOnCpu(config);
        // 12 steps over two keys of B * T = 2; the second visit of (1, 2) has new activation buffers
        int[][] shapes = new int[12][];
        for (int i = 0; i < shapes.length; i++) {
            shapes[i] = i >= 5 && i < 8 ? new int[] {2, 1} : new int[] {1, 2};
        }
        Run direct = train(start, shapes, false, CudaKernels.DEFAULT_PIPELINED_MATMUL_THRESHOLD);
        Run directAgain = train(start, shapes, false, CudaKernels.DEFAULT_PIPELINED_MATMUL_THRESHOLD);
        Run graphs = train(start, shapes, true, CudaKernels.DEFAULT_PIPELINED_MATMUL_THRESHOLD);
        System.out.println("step graphs, losses direct: " + Arrays.toString(direct.losses()));
        System.out.println("step graphs, losses graphs: " + Arrays.toString(graphs.losses()));
        System.out.println("step graphs: " + graphs.graphLaunches() + " graph launches, " + graphs.argumentUpdates()
                + " kernel argument updates, " + graphs.synchronizations() + " host syncs in " + shapes.length
                + " steps");
        assertArrayEquals(direct.losses(), directAgain.losses(), "the direct path is reproducible at this shape");
        assertArrayEquals(direct.end().parameters(), directAgain.end().parameters(),
                "the direct path is reproducible at this shape");

        assertArrayEquals(direct.losses(), graphs.losses(), "losses with and without step graphs, bit for bit");
        assertArrayEquals(direct.gradientNorms(), graphs.gradientNorms(), "gradient norms, bit for bit");
        assertArrayEquals(direct.end().parameters(), graphs.end().parameters(), "weights after 12 steps");
        assertArrayEquals(direct.end().m(), graphs.end().m(), "AdamW first moments after 12 steps");
        assertArrayEquals(direct.end().v(), graphs.end().v(), "AdamW second moments after 12 steps");
        assertEquals(direct.end().step(), graphs.end().step());

        // (1, 2): direct, capture, 3 replays, then 4 replays; (2, 1): direct, capture, 1 replay
        assertEquals(10, graphs.graphLaunches(), "graph launches: all steps but the first of each key");
        assertTrue(graphs.argumentUpdates() >= 8, "AdamW's arguments were updated on each of the 8 replays, got "
                + graphs.argumentUpdates());
        assertEquals(0, direct.graphLaunches());
        assertEquals(shapes.length, graphs.synchronizations(), "one host synchronisation per step");
    }

    @Test
    void shouldTrainLikeTheDirectLaunchesAtARealisticShapeWhenStepsAreReplayedAsGraphs() {
        GptConfig config = GptConfig.of(512, 64, 64, 2, 4);
        Checkpoint start = initialOnCpu(config);
        int[][] shapes = new int[10][];
        Arrays.fill(shapes, new int[] {4, 64});
        // every product on the pipelined path too: its bf16 scratch buffers are arguments of the graph
        Run direct = train(start, shapes, false, 0);
        Run graphs = train(start, shapes, true, 0);
        System.out.println("step graphs at B=4, T=64: losses direct " + Arrays.toString(direct.losses()));
        System.out.println("step graphs at B=4, T=64: losses graphs " + Arrays.toString(graphs.losses()));
        assertEquals(direct.losses()[0], graphs.losses()[0], 0f, "the first step (direct in both) is the same");
        for (int i = 0; i < shapes.length; i++) {
            float tolerance = 1e-3f * direct.losses()[i];
            assertEquals(direct.losses()[i], graphs.losses()[i], tolerance, "loss of step " + i
                    + " (runs differ only by the order of floating-point atomics)");
        }
        assertEquals(shapes.length - 1, graphs.graphLaunches());
        // the products learn in the first step which bf16 copies their consumers want (qkv's for attention, the
        // attention output's gradient), and the cross-entropy that the head's products read its copy of dlogits:
        // the second step's calls are those of every later step, so it is captured once
        assertEquals(1, graphs.graphCaptures(), "step graphs captured: the step's calls settle at its second run");
    }

    @Test
    void shouldUploadEachStepsBatchInOneCopyAndWaitForTheDeviceOncePerStep() {
        CudaTesting.requireDevice();
        GptConfig config = GptConfig.of(512, 64, 64, 2, 4);
        int[][] shapes = new int[5][];
        Arrays.fill(shapes, new int[] {8, 64});  // 8 rows: inputs and targets of every row in the one copy
        Run run = train(initialOnCpu(config), shapes, true, CudaKernels.DEFAULT_PIPELINED_MATMUL_THRESHOLD);
        assertEquals(shapes.length, run.hostToDeviceCopies(), "host-to-device copies in " + shapes.length + " steps");
        assertEquals(shapes.length, run.synchronizations(), "host synchronisations in " + shapes.length + " steps");
    }

    @Test
    void shouldRejectACopyInsideACapturedStepAndKeepWorking() {
        try (CudaKernels kernels = CudaTesting.openOrSkip()) {
            Tensor x = kernels.allocate(4);
            float[] host = {1, 2, 3, 4};
            Runnable writes = () -> kernels.write(x, host, 0);
            kernels.captureStep(1, writes); // the first call of a key runs directly: allowed
            IllegalStateException error = assertThrows(IllegalStateException.class,
                    () -> kernels.captureStep(1, writes));
            assertTrue(error.getMessage().contains("write inside captureStep"), error.getMessage());
            // the capture was ended: the stream takes work and reads again
            kernels.fill(x, 5f);
            float[] back = new float[4];
            kernels.read(back, 0, x);
            assertArrayEquals(new float[] {5, 5, 5, 5}, back);
        }
    }
}
