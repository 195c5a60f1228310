package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.ELEMENTWISE_THREADS;

import io.streamtrain.model.Tensor;
import java.util.function.LongFunction;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code adamw.cu}: fill and copy (zero-grad, parameter copies), the mean of the losses,
 * the global gradient norm and AdamW, which writes the bf16 copy of the parameters that {@link Bf16Shadows} keeps for the
 * matrix products' weights (once a product has asked for one).
 */
public final class AdamwLauncher {
    private static final int NORM_PARTIALS = 1024;

    private final Launcher launcher;
    private final TensorChecks args;
    private final Grid grid;
    private final Bf16Shadows shadows;
    private final CUfunction fill, copy, mean, sumSquaresPartial, sumSquaresFinish, adamw;
    /** The global norm's partial sums, one per block. */
    private final CudaTensor normPartials;

    /** {@code allocate} makes float32 device memory of a given number of elements. */
    public AdamwLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                         LongFunction<CudaTensor> allocate, Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        this.grid = grid;
        fill = kernels.function(KernelFamily.ADAMW, "fill");
        copy = kernels.function(KernelFamily.ADAMW, "copy");
        mean = kernels.function(KernelFamily.ADAMW, "mean");
        sumSquaresPartial = kernels.function(KernelFamily.ADAMW, "sum_squares_partial");
        sumSquaresFinish = kernels.function(KernelFamily.ADAMW, "sum_squares_finish");
        adamw = kernels.function(KernelFamily.ADAMW, "adamw");
        normPartials = allocate.apply(NORM_PARTIALS);
    }

    /** Sets every element of out to value. */
    public void fill(Tensor out, float value) {
        CudaTensor o = args.floats(out, 0, "fill", "out");
        long n = o.size();
        if (n == 0) {
            return;
        }
        launcher.begin().pointer(o).float32(value).int64(n)
                .launch(fill, "fill", grid.gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    /** out = src, element by element (out.size() of them). */
    public void copy(Tensor out, Tensor src) {
        CudaTensor o = args.floats(out, 0, "copy", "out");
        CudaTensor s = args.floats(src, o.size(), "copy", "src");
        long n = o.size();
        if (n == 0) {
            return;
        }
        launcher.begin().pointer(o).pointer(s).int64(n)
                .launch(copy, "copy", grid.gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    /** out (1) = the mean of inp (n): one block of 1024 threads. */
    public void mean(Tensor out, Tensor inp, long n) {
        launcher.begin().pointer(args.floats(out, 1, "mean", "out")).pointer(args.floats(inp, n, "mean", "inp"))
                .int64(n)
                .launch(mean, "mean", 1, 1, 1, 1024, 1, 0);
    }

    /** out (1) = sqrt(sum of inp (n) squared): partial sums over up to 1024 blocks, then one block adds them. */
    public void globalNorm(Tensor out, Tensor inp, long n) {
        int blocks = (int) Math.max(1, Math.min(NORM_PARTIALS, (n + 1023) / 1024));
        launcher.begin().pointer(normPartials).pointer(args.floats(inp, n, "globalNorm", "inp")).int64(n)
                .launch(sumSquaresPartial, "sum_squares_partial", blocks, 1, 1, 256, 1, 0);
        launcher.begin().pointer(args.floats(out, 1, "globalNorm", "out")).pointer(normPartials).int32(blocks)
                .launch(sumSquaresFinish, "sum_squares_finish", 1, 1, 1, 1024, 1, 0);
    }

    /**
     * One AdamW step of params, m, v (n) from grads (n) clipped to maxGradNorm by gradNorm (1) on the device; weight
     * decay on the first decayedSize; a grid-stride loop.
     */
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        if (step < 1) {
            throw new IllegalArgumentException("adamw: step counts from 1, got " + step);
        }
        float biasCorrection1 = (float) (1.0 - Math.pow(beta1, step));
        float biasCorrection2 = (float) (1.0 - Math.pow(beta2, step));
        CudaTensor parameters = args.floats(params, n, "adamw", "params");
        long paramsBf16 = shadows.forProducer(parameters, n);
        launcher.begin().pointer(parameters).int64(paramsBf16).pointer(args.floats(m, n, "adamw", "m"))
                .pointer(args.floats(v, n, "adamw", "v")).pointer(args.floats(grads, n, "adamw", "grads"))
                .pointer(args.floats(gradNorm, 1, "adamw", "gradNorm")).int64(n).int64(decayedSize)
                .float32(learningRate).float32(beta1).float32(beta2).float32(eps).float32(weightDecay)
                .float32(maxGradNorm)
                .float32(biasCorrection1).float32(biasCorrection2)
                .launch(adamw, "adamw", grid.gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }
}
