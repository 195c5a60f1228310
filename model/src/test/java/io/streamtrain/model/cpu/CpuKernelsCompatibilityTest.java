package io.streamtrain.model.cpu;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.KernelsCompatibilityTest;

/**
 * The compatibility kit on the CPU backend, on every processor, against the plain-loop ground truth in double
 * ({@link io.streamtrain.model.ReferenceKernels}): float sums in another order, and the fast exponential, at most
 * {@link #tolerance} apart.
 */
class CpuKernelsCompatibilityTest extends KernelsCompatibilityTest {
    @Override
    protected Kernels createKernels() {
        return new CpuKernels(Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    @Override
    protected double tolerance(String kernel) {
        return 1e-5;
    }
}
