package io.streamtrain.cuda.internal;

import jcuda.driver.CUfunction;

/**
 * Where the launchers find their kernels by family and name, once, when they are made: {@link PtxModules} on a
 * device; in tests, a check of every name against the {@code .entry} directives of the PTX, without a GPU.
 */
public interface KernelLookup {
    /** The kernel {@code name} of {@code family}. */
    CUfunction function(KernelFamily family, String name);

    /** The kernel {@code name} of {@code family}, allowed {@code maxDynamicSharedBytes} of dynamic shared memory. */
    CUfunction function(KernelFamily family, String name, int maxDynamicSharedBytes);

    /**
     * The kernel {@code name} of the Hopper variant of {@code family} (allowed {@code maxDynamicSharedBytes} of dynamic
     * shared memory where over 0), or null where the device did not load that variant: kernels that only
     * {@link KernelFamily#hopperPtx} defines (wgmma).
     */
    CUfunction hopperFunction(KernelFamily family, String name, int maxDynamicSharedBytes);
}
