package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;

import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;

/**
 * The AdamW and norms family ({@code adamw.cu} on the GPU): the mean of the losses, the global gradient norm
 * (sums of fixed blocks added in block order, so the bits do not depend on the thread count) and AdamW with
 * gradient clipping, element by element over the worker pool.
 */
public final class Adamw {
    /** Elements per chunk of the reductions (global norm): fixed, so that the sum order is too. */
    private static final int REDUCTION_BLOCK = 1 << 15;

    private final WorkerPool pool;
    private final SquareSumTask squareSumTask = new SquareSumTask();
    private final AdamwTask adamwTask = new AdamwTask();

    public Adamw(WorkerPool pool) {
        this.pool = pool;
    }

    /** out (1) = the mean of inp (n), summed in double. */
    public static void mean(Tensor out, Tensor inp, long n) {
        CpuTensor o = floats(out, 1, "mean", "out");
        CpuTensor x = floats(inp, n, "mean", "inp");
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            sum += x.array[x.offset + i];
        }
        o.array[o.offset] = (float) (sum / n);
    }

    /** out (1) = sqrt(sum of inp (n) squared). */
    public void globalNorm(Tensor out, Tensor inp, long n) {
        CpuTensor o = floats(out, 1, "globalNorm", "out");
        SquareSumTask task = squareSumTask;
        task.inp = floats(inp, n, "globalNorm", "inp");
        int blocks = (int) ((n + REDUCTION_BLOCK - 1) / REDUCTION_BLOCK);
        if (task.partials.length < blocks) {
            task.partials = new double[blocks];
        }
        task.n = (int) n;
        pool.parallelFor(task, blocks, 1);
        double sum = 0.0;
        for (int i = 0; i < blocks; i++) {
            sum += task.partials[i];
        }
        o.array[o.offset] = (float) Math.sqrt(sum);
    }

    /** Sum of squares of each fixed block of {@link #REDUCTION_BLOCK} elements, into partials. */
    private static final class SquareSumTask extends RangeTask {
        CpuTensor inp;
        int n;
        double[] partials = new double[0];

        @Override
        public void run(int start, int end) {
            float[] x = inp.array;
            for (int block = start; block < end; block++) {
                int from = block * REDUCTION_BLOCK;
                int to = Math.min(n, from + REDUCTION_BLOCK);
                double sum = 0.0;
                for (int i = from; i < to; i++) {
                    double xi = x[inp.offset + i];
                    sum += xi * xi;
                }
                partials[block] = sum;
            }
        }
    }

    /**
     * One AdamW step of params, m, v (n) from grads (n) clipped to maxGradNorm by gradNorm (1); weight decay on
     * the first decayedSize; skipped (nothing written) when gradNorm is not finite.
     */
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        AdamwTask task = adamwTask;
        task.params = floats(params, n, "adamw", "params");
        task.m = floats(m, n, "adamw", "m");
        task.v = floats(v, n, "adamw", "v");
        task.grads = floats(grads, n, "adamw", "grads");
        if (step < 1) {
            throw new IllegalArgumentException("adamw: step counts from 1, got " + step);
        }
        CpuTensor normView = floats(gradNorm, 1, "adamw", "gradNorm");
        float norm = normView.array[normView.offset];
        if (!Float.isFinite(norm)) {
            return; // a non-finite gradient: skip the step, leave params and moments as they were
        }
        task.gradScale = Math.min(1f, maxGradNorm / (norm + 1e-6f));
        task.decayedSize = decayedSize;
        task.learningRate = learningRate;
        task.beta1 = beta1;
        task.beta2 = beta2;
        task.eps = eps;
        task.weightDecay = weightDecay;
        task.biasCorrection1 = (float) (1.0 - Math.pow(beta1, step));
        task.biasCorrection2 = (float) (1.0 - Math.pow(beta2, step));
        pool.parallelFor(task, (int) n, 1 << 14);
    }

    /** torch.optim.AdamW, element by element. */
    private static final class AdamwTask extends RangeTask {
        CpuTensor params, m, v, grads;
        long decayedSize;
        float gradScale, learningRate, beta1, beta2, eps, weightDecay, biasCorrection1, biasCorrection2;

        @Override
        public void run(int start, int end) {
            float[] p = params.array;
            float[] mm = m.array;
            float[] vv = v.array;
            float[] g = grads.array;
            for (int i = start; i < end; i++) {
                float grad = g[grads.offset + i] * gradScale;
                float param = p[params.offset + i];
                if (i < decayedSize) {
                    param -= learningRate * weightDecay * param;
                }
                float mi = beta1 * mm[m.offset + i] + (1f - beta1) * grad;
                float vi = beta2 * vv[v.offset + i] + (1f - beta2) * grad * grad;
                float mHat = mi / biasCorrection1;
                float vHat = vi / biasCorrection2;
                p[params.offset + i] = param - learningRate * mHat / ((float) Math.sqrt(vHat) + eps);
                mm[m.offset + i] = mi;
                vv[v.offset + i] = vi;
            }
        }
    }
}
