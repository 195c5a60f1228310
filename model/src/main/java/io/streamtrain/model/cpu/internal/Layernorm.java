package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;

import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;

/**
 * The layernorm family ({@code layernorm.cu} on the GPU): rows normalised over C channels, split over the
 * worker pool by rows; backward's dweight and dbias are summed in row order on one thread, so the bits do not
 * depend on the thread count.
 */
public final class Layernorm {
    private static final float EPS = 1e-5f;

    private final WorkerPool pool;
    private final ForwardTask forwardTask = new ForwardTask();
    private final BackwardTask backwardTask = new BackwardTask();

    public Layernorm(WorkerPool pool) {
        this.pool = pool;
    }

    /** out (N, C) = (inp - mean) * rstd * weight + bias; mean (N), rstd (N) saved for backward. */
    public void forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias, int N, int C) {
        ForwardTask task = forwardTask;
        task.out = floats(out, (long) N * C, "layernormForward", "out");
        task.mean = floats(mean, N, "layernormForward", "mean");
        task.rstd = floats(rstd, N, "layernormForward", "rstd");
        task.inp = floats(inp, (long) N * C, "layernormForward", "inp");
        task.weight = floats(weight, C, "layernormForward", "weight");
        task.bias = floats(bias, C, "layernormForward", "bias");
        task.C = C;
        pool.parallelFor(task, N, WorkerPool.rowsPerChunk(C));
    }

    private static final class ForwardTask extends RangeTask {
        CpuTensor out, mean, rstd, inp, weight, bias;
        int C;

        @Override
        public void run(int start, int end) {
            float[] x = inp.array;
            float[] y = out.array;
            for (int n = start; n < end; n++) {
                int xBase = inp.offset + n * C;
                float m = 0f;
                for (int i = 0; i < C; i++) {
                    m += x[xBase + i];
                }
                m /= C;
                float variance = 0f;
                for (int i = 0; i < C; i++) {
                    float shift = x[xBase + i] - m;
                    variance += shift * shift;
                }
                variance /= C;
                float s = (float) (1.0 / Math.sqrt(variance + EPS));
                int yBase = out.offset + n * C;
                for (int i = 0; i < C; i++) {
                    float normalized = (x[xBase + i] - m) * s;
                    y[yBase + i] = normalized * weight.array[weight.offset + i] + bias.array[bias.offset + i];
                }
                mean.array[mean.offset + n] = m;
                rstd.array[rstd.offset + n] = s;
            }
        }
    }

    /** dinp (N, C), dweight (C) and dbias (C) accumulate the gradients of forward from dout (N, C). */
    public void backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                         Tensor mean, Tensor rstd, int N, int C) {
        BackwardTask task = backwardTask;
        task.dinp = floats(dinp, (long) N * C, "layernormBackward", "dinp");
        CpuTensor dw = floats(dweight, C, "layernormBackward", "dweight");
        CpuTensor db = floats(dbias, C, "layernormBackward", "dbias");
        task.dout = floats(dout, (long) N * C, "layernormBackward", "dout");
        task.inp = floats(inp, (long) N * C, "layernormBackward", "inp");
        task.weight = floats(weight, C, "layernormBackward", "weight");
        task.mean = floats(mean, N, "layernormBackward", "mean");
        task.rstd = floats(rstd, N, "layernormBackward", "rstd");
        task.C = C;
        pool.parallelFor(task, N, WorkerPool.rowsPerChunk(C));
        // dweight (C) += sum over n of dout * norm; dbias (C) += sum of dout: in row order, one thread.
        float[] x = task.inp.array;
        float[] g = task.dout.array;
        for (int n = 0; n < N; n++) {
            int base = n * C;
            float m = task.mean.array[task.mean.offset + n];
            float s = task.rstd.array[task.rstd.offset + n];
            for (int i = 0; i < C; i++) {
                float d = g[task.dout.offset + base + i];
                float normalized = (x[task.inp.offset + base + i] - m) * s;
                db.array[db.offset + i] += d;
                dw.array[dw.offset + i] += normalized * d;
            }
        }
    }

    /** dinp of rows [start, end). */
    private static final class BackwardTask extends RangeTask {
        CpuTensor dinp, dout, inp, weight, mean, rstd;
        int C;

        @Override
        public void run(int start, int end) {
            float[] x = inp.array;
            float[] g = dout.array;
            float[] w = weight.array;
            for (int n = start; n < end; n++) {
                int xBase = inp.offset + n * C;
                int gBase = dout.offset + n * C;
                float m = mean.array[mean.offset + n];
                float s = rstd.array[rstd.offset + n];
                // the two reductions of the backward pass: mean of dnorm and of dnorm * norm
                float dnormMean = 0f;
                float dnormNormMean = 0f;
                for (int i = 0; i < C; i++) {
                    float normalized = (x[xBase + i] - m) * s;
                    float dnorm = w[weight.offset + i] * g[gBase + i];
                    dnormMean += dnorm;
                    dnormNormMean += dnorm * normalized;
                }
                dnormMean /= C;
                dnormNormMean /= C;
                int dBase = dinp.offset + n * C;
                for (int i = 0; i < C; i++) {
                    float normalized = (x[xBase + i] - m) * s;
                    float dnorm = w[weight.offset + i] * g[gBase + i];
                    dinp.array[dBase + i] += (dnorm - dnormMean - normalized * dnormNormMean) * s;
                }
            }
        }
    }
}
