package io.streamtrain.model.cpu.internal;

import io.streamtrain.model.internal.SplitMix64;

/**
 * The counter-based dropout mask of {@link io.streamtrain.model.Kernels#dropout}: element i of a mask keyed by
 * {@code key} is kept when the top 24 bits of {@code SplitMix64.mix(key + (i + 1) * 0x9E3779B97F4A7C15)} are at or
 * above {@link #threshold}(p); a kept element is scaled by {@link #scale}(p). It depends on (key, i) only, so forward
 * and backward draw one mask without storing it, and the CUDA kernels ({@code dropoutKeep} in {@code common.cuh})
 * draw the same one.
 */
public final class DropoutMask {

    private DropoutMask() {
    }

    /** The 24-bit threshold of drop probability p: {@code (int) (p * 2^24)} in float. */
    public static int threshold(float p) {
        return (int) (p * 0x1.0p24f);
    }

    /** The factor of a kept element, 1 / (1 - p) in float. */
    public static float scale(float p) {
        return 1f / (1f - p);
    }

    /** Whether element {@code index} of the mask keyed by {@code key} is kept. */
    public static boolean keep(long key, long index, int threshold) {
        return (SplitMix64.mix(key + (index + 1) * SplitMix64.GOLDEN_GAMMA) >>> 40) >= threshold;
    }
}
