package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code layernorm.cu}: 8 rows per block forward; backward over at most 2 blocks per SM, with
 * 16-byte accesses and each row held in registers where C is a multiple of 4 up to 768 and the tensors are aligned.
 * Both write the bf16 copy of their output that {@link Bf16Shadows} keeps for the matrix products, where it keeps one.
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
    /** The backward kernels that hold a row in registers, by float4 chunks per lane: 1, 2, 3, 4, 6. */
    private final CUfunction[] backwardRows = new CUfunction[7];

    public LayernormLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                             Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        this.grid = grid;
        forward = kernels.function(KernelFamily.LAYERNORM, "layernorm_forward");
        backward = kernels.function(KernelFamily.LAYERNORM, "layernorm_backward", BACKWARD_SHARED_LIMIT);
        backwardNarrow = kernels.function(KernelFamily.LAYERNORM, "layernorm_backward_narrow", BACKWARD_SHARED_LIMIT);
        for (int k : new int[] {1, 2, 3, 4, 6}) {
            backwardRows[k] = kernels.function(KernelFamily.LAYERNORM, "layernorm_backward_rows_" + k,
                    BACKWARD_SHARED_LIMIT);
        }
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
        CudaTensor gradOut = args.floats(dout, n, "layernormBackward", "dout");
        CudaTensor input = args.floats(inp, n, "layernormBackward", "inp");
        CudaTensor weights = args.floats(weight, C, "layernormBackward", "weight");
        long dinpBf16 = shadows.forProducer(gradInput, n);
        int chunksPerLane = (C + 127) / 128;
        boolean rows = C % 4 == 0 && chunksPerLane <= 6
                && ((gradInput.address() | gradOut.address() | input.address() | weights.address()) & 15) == 0
                && (dinpBf16 & 7) == 0;
        CUfunction kernel = rows ? backwardRows[chunksPerLane == 5 ? 6 : chunksPerLane]
                : C <= 1024 ? backwardNarrow : backward;
        launcher.begin().pointer(gradInput).int64(dinpBf16)
                .pointer(args.floats(dweight, C, "layernormBackward", "dweight"))
                .pointer(args.floats(dbias, C, "layernormBackward", "dbias"))
                .pointer(gradOut)
                .pointer(input)
                .pointer(weights)
                .pointer(args.floats(mean, N, "layernormBackward", "mean"))
                .pointer(args.floats(rstd, N, "layernormBackward", "rstd"))
                .int32(N).int32(C)
                .launch(kernel, "layernorm_backward", blocks, 1, 1, 256, 1, shared);
    }
}
