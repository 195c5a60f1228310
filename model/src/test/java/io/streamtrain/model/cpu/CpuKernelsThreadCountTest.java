package io.streamtrain.model.cpu;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.KernelsCompatibilityTest;

/**
 * The compatibility kit on the CPU backend against itself: one thread against several, with zero tolerance,
 * because chunk boundaries never depend on the thread count and the results must be the same bits.
 */
class CpuKernelsThreadCountTest extends KernelsCompatibilityTest {
    @Override
    protected Kernels createKernels() {
        return new CpuKernels(1);
    }

    @Override
    protected Kernels createReference() {
        return new CpuKernels(Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    @Override
    protected double tolerance(String kernel) {
        return 0;
    }
}
