package io.streamtrain.cuda.internal;

/** Launch sizes shared by the launchers: blocks to cover n items, and grid-stride loops that fill the GPU. */
public final class Grid {
    /** Threads per block of the element-wise kernels. */
    public static final int ELEMENTWISE_THREADS = 256;

    private final int multiprocessors;
    private final int sharedBytesPerBlock;

    /** {@code sharedBytesPerBlock}: the shared memory a block may be allowed (the device's opt-in maximum). */
    public Grid(int multiprocessors, int sharedBytesPerBlock) {
        this.multiprocessors = multiprocessors;
        this.sharedBytesPerBlock = sharedBytesPerBlock;
    }

    /** The shared memory a block may be allowed, in bytes (the device's opt-in maximum). */
    public int sharedBytesPerBlock() {
        return sharedBytesPerBlock;
    }

    /** The device's streaming multiprocessors. */
    public int multiprocessors() {
        return multiprocessors;
    }

    /** Blocks of {@code perBlock} items that cover {@code n} items (at least one). */
    public static int blocks(long n, int perBlock) {
        return (int) Math.max(1, (n + perBlock - 1) / perBlock);
    }

    /** Blocks of a grid-stride loop over n elements: enough to fill the GPU, no more. */
    public int gridStride(long n) {
        return (int) Math.max(1, Math.min((n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS,
                16L * multiprocessors));
    }
}
