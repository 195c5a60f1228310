package io.streamtrain.producer.internal;

/**
 * Decides which parts of a document are held out for evaluation: a deterministic fraction of the input, by content,
 * with nothing on both sides.
 *
 * <p>Rule. A document's token ids are cut into blocks of {@code blockTokens} (the last one may be shorter). The
 * document gets a phase {@code u} in [0, 1) from a 64-bit hash of its ids and the seed; block {@code j} is held out
 * when {@code floor((j + 1) f + u) > floor(j f + u)}, f being the fraction. So a long document (tinyshakespeare is
 * one file) has {@code floor} or {@code ceil} of {@code f} times its blocks held out, evenly spaced (every tenth
 * block for f = 0.1, which one decided by the phase); a document of one block is held out whole with probability f,
 * by its hash. The same document gets the same split on every run, in every epoch and wherever it appears in the
 * input (a duplicate goes where the original went), so no text reaches both topics; {@code seed} chooses another
 * split. Thread-safe (immutable).
 */
public final class HoldoutSplit {
    private final double fraction;
    private final int blockTokens;
    private final long seed;

    /**
     * @param fraction    the share held out, in [0, 1)
     * @param blockTokens tokens per block, at least 1
     * @param seed        chooses the split
     */
    public HoldoutSplit(double fraction, int blockTokens, long seed) {
        if (!(fraction >= 0 && fraction < 1)) {
            throw new IllegalArgumentException("the holdout fraction must be in [0, 1), got " + fraction);
        }
        if (blockTokens < 1) {
            throw new IllegalArgumentException("holdout blocks need at least 1 token, got " + blockTokens);
        }
        this.fraction = fraction;
        this.blockTokens = blockTokens;
        this.seed = seed;
    }

    /** What to do with each part of a document. */
    public interface Sink {
        /** Ids {@code [from, to)} of the document go to training ({@code heldOut} false) or evaluation (true). */
        void accept(int from, int to, boolean heldOut);
    }

    /**
     * Hands {@code ids} on in order as maximal runs of consecutive blocks on the same side (an empty document as
     * one empty run on the side of its hash).
     */
    public void split(int[] ids, Sink sink) {
        double phase = phase(ids);
        int blocks = Math.max(1, (ids.length + blockTokens - 1) / blockTokens);
        int runStart = 0;
        boolean runHeldOut = heldOut(0, phase);
        for (int j = 1; j < blocks; j++) {
            boolean held = heldOut(j, phase);
            if (held != runHeldOut) {
                int boundary = j * blockTokens;
                sink.accept(runStart, boundary, runHeldOut);
                runStart = boundary;
                runHeldOut = held;
            }
        }
        sink.accept(runStart, ids.length, runHeldOut);
    }

    private boolean heldOut(int block, double phase) {
        return Math.floor((block + 1) * fraction + phase) > Math.floor(block * fraction + phase);
    }

    /** The document's phase in [0, 1): FNV-1a over the ids and the seed, finished with SplitMix64's mixer. */
    double phase(int[] ids) {
        long h = 0xcbf29ce484222325L ^ seed;
        for (int id : ids) {
            h = (h ^ id) * 0x100000001b3L;
        }
        return (Mix64.mix(h) >>> 11) * 0x1.0p-53;
    }
}
