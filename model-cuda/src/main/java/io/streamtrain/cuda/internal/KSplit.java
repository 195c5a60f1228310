package io.streamtrain.cuda.internal;

/** How accumulating matrix products split their depth K over blocks (the partial sums meet by atomics). */
public final class KSplit {
    private KSplit() {
    }

    /**
     * K per split of a product over {@code tileCount} output tiles, a multiple of {@code depth} (the kernel's k-tile).
     * The blocks run in waves of {@code slots} (blocks per SM times SMs); a last wave that is mostly empty leaves SMs
     * idle (384 tiles on 264 slots: 1.45 waves), so the split count (1 to 32, at least 4 k-tiles each) is the one whose
     * waves are fullest: a further split must fill them 5% better.
     */
    public static int kPerSplit(int slots, int tileCount, int K, int depth) {
        int maxSplits = Math.max(1, Math.min(32, K / (4 * depth)));
        int count = 1;
        double best = 0;
        for (int splits = 1; splits <= maxSplits; splits++) {
            double waves = (double) tileCount * splits / slots;
            double fullness = waves / Math.ceil(waves);
            if (fullness > best * 1.05) {
                best = fullness;
                count = splits;
            }
        }
        int per = (K + count - 1) / count;
        return Math.max(depth, (per + depth - 1) / depth * depth);
    }

    /** The number of splits of K into pieces of {@code kPerSplit}. */
    public static int splits(int K, int kPerSplit) {
        return Math.max(1, (K + kPerSplit - 1) / kPerSplit);
    }
}
