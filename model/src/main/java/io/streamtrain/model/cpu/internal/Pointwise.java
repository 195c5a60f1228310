package io.streamtrain.model.cpu.internal;

import java.util.Arrays;

/**
 * Element-wise work with exponentials: gelu and the fused softmax cross-entropy, on blocks copied into
 * per-thread scratch arrays indexed from 0 so that HotSpot vectorizes them (see {@link MicroKernel}).
 * The exponential is {@link #exp}, a Cody-Waite reduction and a degree-6 polynomial (Cephes expf),
 * within 1e-7 relative error and several times faster than {@code (float) Math.exp(x)}.
 */
public final class Pointwise {
    private static final float LOG2E = 1.44269504088896341f;
    /** 1.5 * 2^23: adding it rounds to an integer that lands in the low mantissa bits. */
    private static final float ROUNDING = 12582912f;
    private static final int ROUNDING_BITS = 0x4B400000;
    private static final float LN2_HIGH = 0.693359375f;
    private static final float LN2_LOW = -2.12194440e-4f;
    /** exp is evaluated on [-87, 88]: results stay normal floats (e^-87 is about 1.6e-38). */
    private static final float EXP_MIN = -87f;
    private static final float EXP_MAX = 88f;
    private static final float GELU_SCALING_FACTOR = (float) Math.sqrt(2.0 / Math.PI);
    /** Elements per block of the element-wise kernels: two scratch rows of it stay in L1. */
    public static final int BLOCK = 2048;

    private Pointwise() {
    }

    private static final class Scratch {
        float[] x = new float[BLOCK];
        float[] y = new float[BLOCK];
        float[] t = new float[BLOCK];

        Scratch ensure(int n) {
            if (x.length < n) {
                x = new float[n];
                y = new float[n];
                t = new float[n];
            }
            return this;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** x[i] = exp(x[i]) for i < n, with x clamped to [-87, 88]; t (n) is work space. NaN stays NaN. */
    public static void exp(float[] x, float[] t, int n) {
        // vectorized: the reduction x = k ln2 + r and the polynomial for e^r
        for (int i = 0; i < n; i++) {
            float v = Math.min(Math.max(x[i], EXP_MIN), EXP_MAX);
            float k = Math.fma(v, LOG2E, ROUNDING); // k + 1.5 * 2^23, k = round(v / ln2)
            t[i] = k;
            float fk = k - ROUNDING;
            float r = Math.fma(fk, -LN2_HIGH, v);
            r = Math.fma(fk, -LN2_LOW, r);
            float p = 1.9875691500E-4f;
            p = Math.fma(p, r, 1.3981999507E-3f);
            p = Math.fma(p, r, 8.3334519073E-3f);
            p = Math.fma(p, r, 4.1665795894E-2f);
            p = Math.fma(p, r, 1.6666665459E-1f);
            p = Math.fma(p, r, 5.0000001201E-1f);
            x[i] = Math.fma(p, r * r, r) + 1f;
        }
        // scalar (C2 does not vectorize bit casts): multiply by 2^k, built from k's bits
        for (int i = 0; i < n; i++) {
            int k = Float.floatToRawIntBits(t[i]) - ROUNDING_BITS;
            x[i] *= Float.intBitsToFloat((k + 127) << 23);
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
        exp(e, s.t, n);
    }

    /** The sum of x[0..n) in double, over four interleaved partial sums (a latency-bound single sum is 4x slower). */
    static double sum(float[] x, int n) {
        double s0 = 0.0;
        double s1 = 0.0;
        double s2 = 0.0;
        double s3 = 0.0;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        for (; i < n; i++) {
            s0 += x[i];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** out[i] = gelu(inp[i]) for i in [start, end) (views' offsets applied), tanh approximation. */
    public static void geluForward(CpuTensor out, CpuTensor inp, int start, int end) {
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
    public static void geluBackward(CpuTensor dinp, CpuTensor dout, CpuTensor inp, int start, int end) {
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
                d[base + i] += e[i];
            }
        }
    }

    /**
     * Softmax cross-entropy of position n over the first V of its Vp logits: losses[n] = -log softmax[target],
     * correct[n] = 1 when the first argmax is the target, else 0. When dlogits is not null, its row n is
     * overwritten with (softmax - onehot(target)) * dlossScale and 0 on the padding; it may be logits itself.
     */
    public static void crossEntropyRow(CpuTensor losses, CpuTensor correct, CpuTensor dlogits, CpuTensor logitsView,
                                       int n, int target, float dlossScale, int V, int Vp) {
        Scratch s = SCRATCH.get().ensure(V);
        float[] logits = logitsView.array;
        int base = logitsView.offset + n * Vp;
        float max = Float.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int i = 0; i < V; i++) {
            if (logits[base + i] > max) {
                max = logits[base + i];
                argmax = i;
            }
        }
        float shiftedTarget = logits[base + target] - max;
        float[] e = s.x;
        System.arraycopy(logits, base, e, 0, V);
        for (int i = 0; i < V; i++) {
            e[i] -= max;
        }
        exp(e, s.t, V);
        double sum = sum(e, V);
        float loss = (float) Math.log(sum) - shiftedTarget;
        losses.array[losses.offset + n] = loss;
        correct.array[correct.offset + n] = argmax == target ? 1f : 0f;
        if (dlogits != null) {
            float factor = (float) (dlossScale / sum);
            for (int i = 0; i < V; i++) {
                e[i] *= factor;
            }
            e[target] -= dlossScale;
            int dBase = dlogits.offset + n * Vp;
            System.arraycopy(e, 0, dlogits.array, dBase, V);
            Arrays.fill(dlogits.array, dBase + V, dBase + Vp, 0f);
        }
    }
}
