package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;

import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;

/**
 * The gelu, residual and dropout family ({@code gelu_residual.cu} on the GPU). Gelu (tanh approximation) runs on blocks
 * copied into per-thread scratch arrays indexed from 0 so that HotSpot vectorizes them (see {@link MicroKernel}),
 * split over the worker pool; the residual sums are plain loops on the calling thread.
 */
public final class GeluResidual {
    private static final float GELU_SCALING_FACTOR = (float) Math.sqrt(2.0 / Math.PI);
    /** Elements per block of the element-wise kernels: two scratch rows of it stay in L1. */
    private static final int BLOCK = 2048;

    private final WorkerPool pool;
    private final GeluTask geluTask = new GeluTask();

    public GeluResidual(WorkerPool pool) {
        this.pool = pool;
    }

    private static final class Scratch {
        final float[] x = new float[BLOCK];
        final float[] y = new float[BLOCK];
        final float[] t = new float[BLOCK];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** out (N) = gelu(inp (N)). */
    public void geluForward(Tensor out, Tensor inp, int N) {
        GeluTask task = geluTask;
        task.backward = false;
        task.out = floats(out, N, "geluForward", "out");
        task.inp = floats(inp, N, "geluForward", "inp");
        pool.parallelFor(task, N, 8 * BLOCK);
    }

    /** dinp (N) = gelu'(inp (N)) * dout (N), written (dinp may be dout itself). */
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        GeluTask task = geluTask;
        task.backward = true;
        task.out = floats(dinp, N, "geluBackward", "dinp");
        task.dout = floats(dout, N, "geluBackward", "dout");
        task.inp = floats(inp, N, "geluBackward", "inp");
        pool.parallelFor(task, N, 8 * BLOCK);
    }

    /** gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); backward writes out (dinp). */
    private static final class GeluTask extends RangeTask {
        boolean backward;
        CpuTensor out, dout, inp;

        @Override
        public void run(int start, int end) {
            if (backward) {
                geluBackwardRange(out, dout, inp, start, end);
            } else {
                geluForwardRange(out, inp, start, end);
            }
        }
    }

    /** out (N) = inp1 (N) + inp2 (N). */
    public static void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        CpuTensor o = floats(out, N, "residualForward", "out");
        CpuTensor a = floats(inp1, N, "residualForward", "inp1");
        CpuTensor b = floats(inp2, N, "residualForward", "inp2");
        for (int i = 0; i < N; i++) {
            o.array[o.offset + i] = a.array[a.offset + i] + b.array[b.offset + i];
        }
    }

    /** out (N) = inp1 (N) + dropout(inp2 (N)) with the mask of {@code key} ({@link DropoutMask}). */
    public static void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        CpuTensor o = floats(out, N, "residualDropoutForward", "out");
        CpuTensor a = floats(inp1, N, "residualDropoutForward", "inp1");
        CpuTensor b = floats(inp2, N, "residualDropoutForward", "inp2");
        int threshold = DropoutMask.threshold(p);
        float scale = DropoutMask.scale(p);
        for (int i = 0; i < N; i++) {
            float dropped = DropoutMask.keep(key, i, threshold) ? b.array[b.offset + i] * scale : 0f;
            o.array[o.offset + i] = a.array[a.offset + i] + dropped;
        }
    }

    /** out (N) = dropout(inp (N)) with the mask of {@code key} ({@link DropoutMask}); out may be inp. */
    public static void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        CpuTensor o = floats(out, N, "dropout", "out");
        CpuTensor x = floats(inp, N, "dropout", "inp");
        int threshold = DropoutMask.threshold(p);
        float scale = DropoutMask.scale(p);
        for (int i = 0; i < N; i++) {
            o.array[o.offset + i] = DropoutMask.keep(key, i, threshold) ? x.array[x.offset + i] * scale : 0f;
        }
    }

    /**
     * Copies inp[from, from + n) into s.x and sets s.y to exp(2u), u = sqrt(2/pi) (x + 0.044715 x^3),
     * from which tanh(u) = 1 - 2 / (exp(2u) + 1).
     */
    private static void geluExponentials(Scratch s, CpuTensor inp, int from, int n) {
        float[] x = s.x;
        float[] e = s.y;
        System.arraycopy(inp.array, inp.offset + from, x, 0, n);
        for (int i = 0; i < n; i++) {
            float xi = x[i];
            e[i] = 2f * GELU_SCALING_FACTOR * (xi + 0.044715f * xi * xi * xi);
        }
        Exp.exp(e, s.t, n);
    }

    /** out[i] = gelu(inp[i]) for i in [start, end) (views' offsets applied), tanh approximation. */
    private static void geluForwardRange(CpuTensor out, CpuTensor inp, int start, int end) {
        Scratch s = SCRATCH.get();
        for (int from = start; from < end; from += BLOCK) {
            int n = Math.min(BLOCK, end - from);
            float[] x = s.x;
            float[] e = s.y;
            geluExponentials(s, inp, from, n);
            for (int i = 0; i < n; i++) {
                float tanh = 1f - 2f / (e[i] + 1f); // tanh(u) from e = exp(2u)
                e[i] = 0.5f * x[i] * (1f + tanh);
            }
            System.arraycopy(e, 0, out.array, out.offset + from, n);
        }
    }

    /** dinp[i] += gelu'(inp[i]) * dout[i] for i in [start, end). */
    private static void geluBackwardRange(CpuTensor dinp, CpuTensor dout, CpuTensor inp, int start, int end) {
        Scratch s = SCRATCH.get();
        for (int from = start; from < end; from += BLOCK) {
            int n = Math.min(BLOCK, end - from);
            float[] x = s.x;
            float[] e = s.y;
            geluExponentials(s, inp, from, n);
            float[] g = s.t;
            System.arraycopy(dout.array, dout.offset + from, g, 0, n);
            for (int i = 0; i < n; i++) {
                float xi = x[i];
                float tanh = 1f - 2f / (e[i] + 1f);
                float sech2 = 1f - tanh * tanh;
                float localGrad = 0.5f * (1f + tanh)
                        + xi * 0.5f * sech2 * GELU_SCALING_FACTOR * (1f + 3f * 0.044715f * xi * xi);
                e[i] = localGrad * g[i];
            }
            float[] d = dinp.array;
            int base = dinp.offset + from;
            for (int i = 0; i < n; i++) {
                d[base + i] = e[i];
            }
        }
    }
}
