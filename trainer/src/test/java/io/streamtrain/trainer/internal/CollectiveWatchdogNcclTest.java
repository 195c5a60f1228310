package io.streamtrain.trainer.internal;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.cuda.Nccl;
import io.streamtrain.cuda.NcclReducer;
import io.streamtrain.cuda.NcclUnavailableException;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.PatternRows;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TrainingOptions;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * The watchdog on a real NCCL communicator, on one GPU (skipped with the reason where there is no GPU or no NCCL): its
 * thread reads the communicator's state while steps run and aborts it mid-step past the deadline. One GPU cannot
 * make a peer that dies in an all-reduce (NCCL has one rank per GPU), so the deadline here is shorter than a step.
 */
class CollectiveWatchdogNcclTest {
    private static final int B = 16;
    private static final int T = 256;

    @Test
    void shouldAbortARealCommunicatorMidStepAndFailNamingThePhaseWithTheGpuStillUsable() {
        CudaDevice device = CudaDevice.probe();
        assumeTrue(device.available(), () -> "skipped: no usable CUDA device: " + device.reason());
        Nccl nccl;
        try {
            nccl = Nccl.load();
        } catch (NcclUnavailableException e) {
            assumeTrue(false, "skipped: " + e.getMessage());
            throw e;
        }
        GptConfig config = GptConfig.preset("small", 8192);
        try (Gpt gpt = Gpt.initialize(config, CudaKernels.open(0), TrainingOptions.defaults(), 5)) {
            CudaKernels kernels = (CudaKernels) gpt.kernels();
            NcclReducer reducer = NcclReducer.initRank(nccl, kernels, nccl.uniqueId(), 1, 0, Duration.ofSeconds(60));
            long stepNanos = 0;
            for (int step = 0; step < 4; step++) { // the step graphs are captured in the first steps
                long start = System.nanoTime();
                gpt.trainStep(PatternRows.rows(T, step, 0, B), B, T, B, reducer);
                stepNanos = System.nanoTime() - start;
            }
            Duration deadline = Duration.ofMillis(Math.max(1, stepNanos / 2_000_000));
            System.out.println("step " + stepNanos / 1000 + " us; deadline " + deadline.toMillis() + " ms");
            try (CollectiveWatchdog watchdog = new CollectiveWatchdog("rank 0 of world 'gpu-test' (generation 1, 1"
                    + " ranks)", deadline, Duration.ofMillis(1), reducer::asyncError, reducer::abort)) {
                IllegalStateException e = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> assertThrows(
                        IllegalStateException.class, () -> {
                            for (int step = 4; step < 10_000; step++) {
                                int[] tokens = PatternRows.rows(T, step, 0, B);
                                watchdog.guard("step " + step + " (the gradients' all-reduce)",
                                        () -> gpt.trainStep(tokens, B, T, B, reducer));
                            }
                        }), "the abort did not end the step");
                System.out.println("watchdog: " + e.getMessage() + "; the step threw: " + e.getCause());
                assertTrue(e.getMessage().startsWith("rank 0 of world 'gpu-test' (generation 1, 1 ranks) waited more"
                        + " than " + deadline.toMillis() + " ms (world.timeout.ms) for the other ranks during step "),
                        e.getMessage());
                assertThrows(IllegalStateException.class, () -> watchdog.guard("the next step", () -> 1),
                        "aborted for good");
            }
            // the model and its GPU still work without the communicator
            StepResult after = gpt.trainStep(PatternRows.rows(T, 0, 0, B), B, T);
            System.out.println("a plain step after the abort: loss " + after.loss());
            assertTrue(Double.isFinite(after.loss()), "loss " + after.loss());
        }
    }
}
