package io.streamtrain.model.internal;

/**
 * A seeded random generator whose whole state is one long (SplitMix64, Steele, Lea and Flood 2014),
 * so that a checkpoint can capture it and a restored model continues the same sequence.
 * Not thread-safe.
 */
public final class SplitMix64 {

    /** The increment of the state per draw. */
    public static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private long state;

    public SplitMix64(long state) {
        this.state = state;
    }

    /** The state: {@code new SplitMix64(state())} continues exactly where this one is. */
    public long state() {
        return state;
    }

    public long nextLong() {
        return mix(state += GOLDEN_GAMMA);
    }

    /**
     * SplitMix64's output function: a well-mixed 64-bit value of {@code z}. Counter-based draws use it alone: the
     * dropout masks are {@code mix(key + (i + 1) * GOLDEN_GAMMA)} for element i (see {@code Kernels.dropout}).
     */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1), 24 random bits. */
    public float nextFloat() {
        return (nextLong() >>> 40) * 0x1.0p-24f;
    }

    /** Uniform in [0, 1), 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Standard normal by Box-Muller; uses two uniforms and keeps no spare, so the state stays one long. */
    public double nextGaussian() {
        double u1 = 1.0 - nextDouble(); // (0, 1]: log is finite
        double u2 = nextDouble();
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }
}
