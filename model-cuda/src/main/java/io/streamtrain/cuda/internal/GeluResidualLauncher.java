package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.ELEMENTWISE_THREADS;
import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code gelu_residual.cu}: element-wise, one thread per 4 elements (16-byte accesses); gelu,
 * residual sums and dropout. The GELU kernels write the bf16 copy of their output that {@link Bf16Shadows} keeps for
 * the matrix products, where it keeps one.
 */
public final class GeluResidualLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final Bf16Shadows shadows;
    private final CUfunction geluForward, geluBackward, residualForward;
    private final CUfunction dropout, residualDropoutForward;

    public GeluResidualLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        geluForward = kernels.function(KernelFamily.GELU_RESIDUAL, "gelu_forward");
        geluBackward = kernels.function(KernelFamily.GELU_RESIDUAL, "gelu_backward");
        residualForward = kernels.function(KernelFamily.GELU_RESIDUAL, "residual_forward");
        dropout = kernels.function(KernelFamily.GELU_RESIDUAL, "dropout_forward");
        residualDropoutForward = kernels.function(KernelFamily.GELU_RESIDUAL, "residual_dropout_forward");
    }

    /** out (N) = gelu(inp (N)), tanh approximation. */
    public void geluForward(Tensor out, Tensor inp, int N) {
        CudaTensor output = args.floats(out, N, "geluForward", "out");
        CudaTensor input = args.floats(inp, N, "geluForward", "inp");
        if (N > 0) {
            launchFours(launcher.begin().pointer(output).int64(shadows.forProducer(output, N)).pointer(input), geluForward,
                    "gelu_forward", N);
        }
    }

    /** dinp (N) = gelu'(inp (N)) * dout (N), written; dinp may be dout. */
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        CudaTensor gradInput = args.floats(dinp, N, "geluBackward", "dinp");
        CudaTensor gradOut = args.floats(dout, N, "geluBackward", "dout");
        CudaTensor input = args.floats(inp, N, "geluBackward", "inp");
        if (N > 0) {
            launchFours(launcher.begin().pointer(gradInput).int64(shadows.forProducer(gradInput, N)).pointer(gradOut)
                    .pointer(input), geluBackward, "gelu_backward", N);
        }
    }

    /** out (N) = inp1 (N) + inp2 (N). */
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        elementwise(residualForward, "residual_forward", N, args.floats(out, N, "residualForward", "out"),
                args.floats(inp1, N, "residualForward", "inp1"), args.floats(inp2, N, "residualForward", "inp2"));
    }

    /** out (N) = dropout(inp (N)) with the mask of {@code key}; out may be inp. */
    public void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        dropoutElementwise(dropout, "dropout_forward", N, args.floats(out, N, "dropout", "out"), null,
                args.floats(inp, N, "dropout", "inp"), p, key);
    }

    /** out (N) = inp1 (N) + dropout(inp2 (N)) with the mask of {@code key}. */
    public void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        dropoutElementwise(residualDropoutForward, "residual_dropout_forward", N,
                args.floats(out, N, "residualDropoutForward", "out"),
                args.floats(inp1, N, "residualDropoutForward", "inp1"),
                args.floats(inp2, N, "residualDropoutForward", "inp2"), p, key);
    }

    /** One thread per 4 elements; arguments (out[, a], b, key, p, n). */
    private void dropoutElementwise(CUfunction function, String name, long n, CudaTensor out, CudaTensor a,
                                    CudaTensor b, float p, long key) {
        if (n == 0) {
            return;
        }
        Launcher l = launcher.begin().pointer(out);
        if (a != null) {
            l.pointer(a);
        }
        l.pointer(b).int64(key).float32(p).int64(n)
                .launch(function, name, blocks((n + 3) / 4, ELEMENTWISE_THREADS), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    /** One thread per 4 elements; arguments (a, b[, c], n). */
    private void elementwise(CUfunction function, String name, long n, CudaTensor a, CudaTensor b, CudaTensor c) {
        if (n == 0) {
            return;
        }
        Launcher l = launcher.begin().pointer(a).pointer(b);
        if (c != null) {
            l.pointer(c);
        }
        launchFours(l, function, name, n);
    }

    /** Launches {@code function} with the arguments packed so far and n: one thread per 4 elements. */
    private static void launchFours(Launcher l, CUfunction function, String name, long n) {
        l.int64(n).launch(function, name, blocks((n + 3) / 4, ELEMENTWISE_THREADS), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }
}
