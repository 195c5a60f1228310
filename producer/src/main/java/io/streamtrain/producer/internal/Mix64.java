package io.streamtrain.producer.internal;

/** SplitMix64's finalizer: the producer's deterministic draws (held-out split, shuffle, epoch offsets). */
public final class Mix64 {
    /** The golden-ratio increment of SplitMix64's state. */
    public static final long GAMMA = 0x9e3779b97f4a7c15L;

    private Mix64() {}

    /** A well-mixed 64-bit value of {@code z}. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
