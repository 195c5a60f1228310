package io.streamtrain.model.cpu;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.KernelsCompatibilityTest;

/**
 * The compatibility kit on the CPU backend itself: one thread against the multithreaded reference,
 * with zero tolerance, because chunk boundaries never depend on the thread count and the results must
 * be the same bits.
 */
class CpuKernelsCompatibilityTest extends KernelsCompatibilityTest {
    @Override
    protected Kernels createKernels() {
        return new CpuKernels(1);
    }

    @Override
    protected double tolerance(String kernel) {
        return 0;
    }
}
