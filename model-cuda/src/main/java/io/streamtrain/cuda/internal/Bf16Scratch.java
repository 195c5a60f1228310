package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.ELEMENTWISE_THREADS;

import java.util.function.LongFunction;
import jcuda.driver.CUfunction;

/**
 * bf16 copies of the operands of the tensor-core kernels (the pipelined matrix products, attention from bf16), in
 * scratch buffers grown on first use and reused after; made by {@code to_bf16} of {@code matmul.cu}.
 */
public final class Bf16Scratch {
    /** The scratch buffers, by slot: products use 0 to 2, attention 3 (qkv) and 4 (dout). */
    private final CudaTensor[] buffers = new CudaTensor[5];
    private final Launcher launcher;
    private final Grid grid;
    private final LongFunction<CudaTensor> allocate;
    private final CUfunction toBf16;

    /** {@code allocate} makes float32 device memory of a given number of elements (it must not run in a step graph). */
    public Bf16Scratch(KernelLookup kernels, Launcher launcher, Grid grid, LongFunction<CudaTensor> allocate) {
        this.launcher = launcher;
        this.grid = grid;
        this.allocate = allocate;
        toBf16 = kernels.function(KernelFamily.MATMUL, "to_bf16");
    }

    /** src (n floats) converted to bf16 into scratch buffer {@code slot}, grown (once) to fit. */
    public CudaTensor convert(int slot, CudaTensor src, long n) {
        long elements = (n + 1) / 2;  // the scratch is float32 memory holding 2 bf16 per element
        if (buffers[slot] == null || buffers[slot].size() < elements) {
            buffers[slot] = allocate.apply(Math.max(elements, 1024));
        }
        CudaTensor out = buffers[slot];
        launcher.begin().pointer(out).pointer(src).int64(n)
                .launch(toBf16, "to_bf16", grid.gridStride((n + 7) / 8), 1, 1, ELEMENTWISE_THREADS, 1, 0);
        return out;
    }
}
