package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code layernorm.cu}: 8 rows per block forward; backward over at most 2 blocks per SM. Both
 * write the bf16 copy of their output that {@link Bf16Shadows} keeps for the matrix products, where it keeps one.
 */
public final class LayernormLauncher {
    /** Dynamic shared memory the backward kernels may use: 2 floats per channel, so C up to 12288. */
    private static final int BACKWARD_SHARED_LIMIT = 96 * 1024;

    private final Launcher launcher;
    private final TensorChecks args;
    private final Grid grid;
    private final Bf16Shadows shadows;
    private final CUfunction forward;
    private final CUfunction backward;
    private final CUfunction backwardNarrow;

    public LayernormLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                             Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        this.grid = grid;
        forward = kernels.function(KernelFamily.LAYERNORM, "layernorm_forward");
        backward = kernels.function(KernelFamily.LAYERNORM, "layernorm_backward", BACKWARD_SHARED_LIMIT);
        backwardNarrow = kernels.function(KernelFamily.LAYERNORM, "layernorm_backward_narrow", BACKWARD_SHARED_LIMIT);
    }

    /** out (N, C) = (inp - mean) * rstd * weight + bias; mean (N), rstd (N) saved for backward. */
    public void forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias, int N, int C) {
        long n = (long) N * C;
        CudaTensor output = args.floats(out, n, "layernormForward", "out");
        long outBf16 = shadows.forProducer(output, n);
        launcher.begin().pointer(output).int64(outBf16)
                .pointer(args.floats(mean, N, "layernormForward", "mean"))
                .pointer(args.floats(rstd, N, "layernormForward", "rstd"))
                .pointer(args.floats(inp, n, "layernormForward", "inp"))
                .pointer(args.floats(weight, C, "layernormForward", "weight"))
                .pointer(args.floats(bias, C, "layernormForward", "bias")).int32(N).int32(C)
                .launch(forward, "layernorm_forward", blocks(N, 8), 1, 1, 256, 1, 0);
    }

    /** dinp (N, C), dweight (C) and dbias (C) accumulate the gradients of forward from dout (N, C). */
    public void backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                         Tensor mean, Tensor rstd, int N, int C) {
        long n = (long) N * C;
        int shared = 2 * 4 * C;
        if (shared > BACKWARD_SHARED_LIMIT) {
            throw new IllegalArgumentException("layernormBackward: C = " + C + " is over the 12288 channels this "
                    + "kernel supports");
        }
        int blocks = Math.max(1, Math.min(blocks(N, 8), 2 * grid.multiprocessors()));
        CudaTensor gradInput = args.floats(dinp, n, "layernormBackward", "dinp");
        long dinpBf16 = shadows.forProducer(gradInput, n);
        launcher.begin().pointer(gradInput).int64(dinpBf16)
                .pointer(args.floats(dweight, C, "layernormBackward", "dweight"))
                .pointer(args.floats(dbias, C, "layernormBackward", "dbias"))
                .pointer(args.floats(dout, n, "layernormBackward", "dout"))
                .pointer(args.floats(inp, n, "layernormBackward", "inp"))
                .pointer(args.floats(weight, C, "layernormBackward", "weight"))
                .pointer(args.floats(mean, N, "layernormBackward", "mean"))
                .pointer(args.floats(rstd, N, "layernormBackward", "rstd"))
                .int32(N).int32(C)
                .launch(C <= 1024 ? backwardNarrow : backward, "layernorm_backward", blocks, 1, 1, 256, 1, shared);
    }
}
