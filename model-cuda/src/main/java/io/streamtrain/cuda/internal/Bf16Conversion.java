package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.ELEMENTWISE_THREADS;

import jcuda.driver.CUfunction;

/**
 * The conversion of float32 tensors to bf16 ({@code to_bf16} of {@code matmul.cu}) into the copies that
 * {@link Bf16Shadows} keeps for the tensor-core kernels (the matrix products, attention from bf16), and back
 * ({@code from_bf16}) where a producer wrote only the copy.
 */
public final class Bf16Conversion {
    private final Launcher launcher;
    private final Grid grid;
    private final CUfunction toBf16;
    private final CUfunction fromBf16;

    public Bf16Conversion(KernelLookup kernels, Launcher launcher, Grid grid) {
        this.launcher = launcher;
        this.grid = grid;
        toBf16 = kernels.function(KernelFamily.MATMUL, "to_bf16");
        fromBf16 = kernels.function(KernelFamily.MATMUL, "from_bf16");
    }

    /** src (n floats) converted to bf16 into the device memory at {@code address} (room for n bf16, 16-byte aligned). */
    public void convertInto(long address, CudaTensor src, long n) {
        launcher.begin().int64(address).pointer(src).int64(n)
                .launch(toBf16, "to_bf16", grid.gridStride((n + 7) / 8), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    /** The bf16 copy at {@code copyAddress} (n elements) converted back into the n floats at {@code floatAddress}. */
    public void convertBack(long floatAddress, long copyAddress, long n) {
        launcher.begin().int64(floatAddress).int64(copyAddress).int64(n)
                .launch(fromBf16, "from_bf16", grid.gridStride((n + 7) / 8), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }
}
