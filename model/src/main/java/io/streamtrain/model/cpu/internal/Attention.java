package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;

import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;
import java.util.Arrays;

/**
 * The attention family ({@code attention.cu} on the GPU): causal self-attention of one (batch row b, head h)
 * per index of the worker pool, as small matrix products on the
 * {@link MicroKernel}. Q, K, V (T, hs) are the head's slices of qkv (B, T, 3C). With A the (T, T) causal
 * softmax of Q Kᵀ / sqrt(hs):
 * <pre>
 *   forward   S = Q Kᵀ (rows t, keys t2 <= t)    A = softmax(S * scale)    out = A V
 *   backward  dA = dout Vᵀ    dS = A * (dA - rowsum(dout * out)) * scale
 *             dQ = dS K       dK = dSᵀ Q          dV = Aᵀ dout
 * </pre>
 * With dropout p (training only), the weights of V are A' = A * mask / (1 - p), with the {@link DropoutMask} keyed by
 * the call's key at element ((b * NH + h) * T + t) * T + t2; the statistics keep A itself, backward draws the
 * mask again: {@code dA = mask * (dout Vᵀ) / (1 - p)}, {@code dV = A'ᵀ dout}, and rowsum(dout * out) is still
 * the sum of A dA.
 * Products whose vectorized loop would run along hs (short) are computed transposed, along T.
 * Every sum runs over its index in order, so decoding one position ({@link #decode}) gives the same bits
 * as the last row of {@link #forwardHead}.
 */
public final class Attention {
    private final WorkerPool pool;
    private final ForwardTask forwardTask = new ForwardTask();
    private final BackwardTask backwardTask = new BackwardTask();

    public Attention(WorkerPool pool) {
        this.pool = pool;
    }

    /** Floats of the statistics that forward keeps for backward: the softmax A (B, NH, T, T). */
    public static long statisticsSize(int B, int T, int NH) {
        return (long) B * NH * T * T;
    }

    /**
     * out (B, T, C) from qkv (B, T, 3C); stats (B, NH, T, T) keeps the softmax for backward; dropout p on the
     * attention weights with the mask of {@code key} (p = 0: none).
     */
    public void forward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float p, long key) {
        ForwardTask task = forwardTask;
        task.dropout = Dropout.of(p, key, T, NH);
        task.out = floats(out, (long) B * T * C, "attentionForward", "out");
        task.att = floats(stats, statisticsSize(B, T, NH), "attentionForward", "stats");
        task.qkv = floats(qkv, (long) B * T * 3 * C, "attentionForward", "qkv");
        task.T = T;
        task.C = C;
        task.NH = NH;
        pool.parallelFor(task, B * NH, 1);
    }

    /** One (b, h) pair per index. */
    private static final class ForwardTask extends RangeTask {
        CpuTensor out, att, qkv;
        int T, C, NH;
        Dropout dropout;

        @Override
        public void run(int start, int end) {
            for (int bh = start; bh < end; bh++) {
                forwardHead(out, att, qkv, bh / NH, bh % NH, T, C, NH, dropout);
            }
        }
    }

    /** dqkv (B, T, 3C) = the gradient of forward from dout (B, T, C), written (not accumulated). */
    public void backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                         int NH, float p, long key) {
        BackwardTask task = backwardTask;
        task.dropout = Dropout.of(p, key, T, NH);
        task.dqkv = floats(dqkv, (long) B * T * 3 * C, "attentionBackward", "dqkv");
        task.dout = floats(dout, (long) B * T * C, "attentionBackward", "dout");
        task.qkv = floats(qkv, (long) B * T * 3 * C, "attentionBackward", "qkv");
        task.out = floats(out, (long) B * T * C, "attentionBackward", "out");
        task.att = floats(stats, statisticsSize(B, T, NH), "attentionBackward", "stats");
        task.T = T;
        task.C = C;
        task.NH = NH;
        pool.parallelFor(task, B * NH, 1);
    }

    /** One (b, h) pair per index. */
    private static final class BackwardTask extends RangeTask {
        CpuTensor dqkv, dout, qkv, out, att;
        int T, C, NH;
        Dropout dropout;

        @Override
        public void run(int start, int end) {
            for (int bh = start; bh < end; bh++) {
                backwardHead(dqkv, dout, qkv, out, att, bh / NH, bh % NH, T, C, NH, dropout);
            }
        }
    }

    /** Per-thread (T, T) and (hs, T) work rows, grown on first use. */
    private static final class Scratch {
        int T;
        int hs;
        float[][] a = new float[0][];      // (T, T) A, the softmax
        float[][] b = new float[0][];      // (T, T) S in forward, dA then dS in backward
        float[][] bT = new float[0][];     // (T, T) a transpose: Aᵀ in forward, dSᵀ in backward
        float[][] kvT = new float[0][];    // (hs, T) Kᵀ in forward, Vᵀ in backward
        float[][] yT = new float[0][];     // (hs, T) a transposed result: outᵀ, dQᵀ, dKᵀ, dVᵀ
        float[] coef = new float[0];
        float[] dsum = new float[0];      // (T) rowsum(dout * out) in backward, exp work space in forward

        Scratch ensure(int T, int hs) {
            if (T > this.T || hs > this.hs) {
                this.T = Math.max(T, this.T);
                this.hs = Math.max(hs, this.hs);
                a = new float[this.T][this.T];
                b = new float[this.T][this.T];
                bT = new float[this.T][this.T];
                kvT = new float[this.hs][this.T];
                yT = new float[this.hs][this.T];
                coef = new float[4 * Math.max(this.T, this.hs)];
                dsum = new float[this.T];
            }
            return this;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** The dropout of one call on the attention weights, or null for none. */
    private record Dropout(long key, int threshold, float scale, int T, int NH) {
        static Dropout of(float p, long key, int T, int NH) {
            return p == 0f ? null : new Dropout(key, DropoutMask.threshold(p), DropoutMask.scale(p), T, NH);
        }

        /** row[0, count) of query t of (b, h) times its mask: 0 where dropped, times 1 / (1 - p) where kept. */
        void apply(float[] row, int count, int b, int h, int t) {
            long base = ((long) (b * NH + h) * T + t) * T;
            for (int t2 = 0; t2 < count; t2++) {
                row[t2] = DropoutMask.keep(key, base + t2, threshold) ? row[t2] * scale : 0f;
            }
        }
    }

    /** out (B, T, C) at head h of row b, and that head's softmax rows into att (B, NH, T, T). */
    private static void forwardHead(CpuTensor out, CpuTensor att, CpuTensor qkv, int b, int h, int T, int C,
                                    int NH, Dropout dropout) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Scratch s = SCRATCH.get().ensure(T, hs);
        float[] x = qkv.array;
        int qBase = qkv.offset + b * T * 3 * C + h * hs; // q(t, i) = x[qBase + t * 3C + i]
        int kBase = qBase + C;
        int vBase = qBase + 2 * C;
        // S = Q Kᵀ: rows t, 4 at a time, keys t2 < t + 4 (the rest is masked anyway)
        transposeHead(s.kvT, x, kBase, 3 * C, T, hs);
        causalProduct(s, x, qBase, 3 * C, T, hs);
        int attBase = att.offset + (b * NH + h) * T * T;
        for (int t = 0; t < T; t++) {
            float[] row = s.a[t];
            System.arraycopy(s.b[t], 0, row, 0, t + 1);
            softmaxRow(row, t + 1, scale, s.dsum);
            Arrays.fill(row, t + 1, T, 0f);
            System.arraycopy(row, 0, att.array, attBase + t * T, T);
            if (dropout != null) {
                dropout.apply(row, t + 1, b, h, t);
            }
        }
        // outᵀ[i, t] = sum over t2 of V[t2, i] * Aᵀ[t2, t]
        transpose(s.bT, s.a, T);
        accumulateTransposed(s, s.bT, x, vBase, 3 * C, T, hs);
        int outBase = out.offset + b * T * C + h * hs;
        for (int t = 0; t < T; t++) {
            int o = outBase + t * C;
            for (int i = 0; i < hs; i++) {
                out.array[o + i] = s.yT[i][t];
            }
        }
    }

    /** Writes the gradient of head h of row b into its columns of dqkv (B, T, 3C). */
    private static void backwardHead(CpuTensor dqkv, CpuTensor dout, CpuTensor qkv, CpuTensor out, CpuTensor att,
                                     int b, int h, int T, int C, int NH, Dropout dropout) {
        int hs = C / NH;
        float scale = (float) (1.0 / Math.sqrt(hs));
        Scratch s = SCRATCH.get().ensure(T, hs);
        float[] x = qkv.array;
        float[] g = dout.array;
        int qBase = qkv.offset + b * T * 3 * C + h * hs;
        int kBase = qBase + C;
        int vBase = qBase + 2 * C;
        int gBase = dout.offset + b * T * C + h * hs; // dout(t, i) = g[gBase + t * C + i]
        int oBase = out.offset + b * T * C + h * hs;
        int attBase = att.offset + (b * NH + h) * T * T;
        for (int t = 0; t < T; t++) {
            System.arraycopy(att.array, attBase + t * T, s.a[t], 0, T);
            float sum = 0f;
            for (int i = 0; i < hs; i++) {
                sum += g[gBase + t * C + i] * out.array[oBase + t * C + i];
            }
            s.dsum[t] = sum;
        }
        // dA = dout Vᵀ, keys t2 < t + 4
        transposeHead(s.kvT, x, vBase, 3 * C, T, hs);
        causalProduct(s, g, gBase, C, T, hs);
        // dS = A * (dA - dsum) * scale on the causal part, 0 above it
        for (int t = 0; t < T; t++) {
            float[] a = s.a[t];
            float[] d = s.b[t];
            float dsum = s.dsum[t];
            if (dropout != null) {
                dropout.apply(d, t + 1, b, h, t); // dA = mask * dA' / (1 - p)
            }
            for (int t2 = 0; t2 <= t; t2++) {
                d[t2] = a[t2] * (d[t2] - dsum) * scale;
            }
            Arrays.fill(d, t + 1, T, 0f);
        }
        transpose(s.bT, s.b, T);
        // dQᵀ[i, t] = sum over t2 of K[t2, i] * dSᵀ[t2, t]
        accumulateTransposed(s, s.bT, x, kBase, 3 * C, T, hs);
        scatter(dqkv.array, dqkv.offset + b * T * 3 * C + h * hs, 3 * C, s.yT, T, hs);
        // dKᵀ[i, t2] = sum over t of Q[t, i] * dS[t, t2]
        accumulateTransposed(s, s.b, x, qBase, 3 * C, T, hs);
        scatter(dqkv.array, dqkv.offset + b * T * 3 * C + C + h * hs, 3 * C, s.yT, T, hs);
        // dVᵀ[i, t2] = sum over t of dout[t, i] * A[t, t2] (A' with dropout)
        if (dropout != null) {
            for (int t = 0; t < T; t++) {
                dropout.apply(s.a[t], t + 1, b, h, t);
            }
        }
        accumulateTransposed(s, s.a, g, gBase, C, T, hs);
        scatter(dqkv.array, dqkv.offset + b * T * 3 * C + 2 * C + h * hs, 3 * C, s.yT, T, hs);
    }

    /**
     * b[t, t2] = sum over i of m(t, i) * kvT[i, t2] for keys t2 < t + 4 (those of the causal part and a few
     * more, which the caller masks), with m(t, i) = src[base + t * stride + i].
     */
    private static void causalProduct(Scratch s, float[] src, int base, int stride, int T, int hs) {
        for (int t = 0; t < T; t += 4) {
            int rows = Math.min(4, T - t);
            int keys = Math.min(T, t + 4);
            for (int r = 0; r < rows; r++) {
                Arrays.fill(s.b[t + r], 0, keys, 0f);
                gather(s.coef, r, src, base + (t + r) * stride, 1, hs);
            }
            MicroKernel.accumulate(s.b, t, rows, s.kvT, s.coef, hs, keys);
        }
    }

    /** yT[i, :] = sum over k < T of m(k, i) * panel[k, :], with m(k, i) = src[base + k * stride + i]. */
    private static void accumulateTransposed(Scratch s, float[][] panel, float[] src, int base, int stride,
                                             int T, int hs) {
        zero(s.yT, hs, T);
        for (int i = 0; i < hs; i += 4) {
            int rows = Math.min(4, hs - i);
            for (int r = 0; r < rows; r++) {
                gather(s.coef, r, src, base + i + r, stride, T);
            }
            MicroKernel.accumulate(s.yT, i, rows, panel, s.coef, T, T);
        }
    }

    /**
     * One new position against a KV cache, for one head: out (hs) from q (hs) and keys and values of
     * positions [0, count) at kBase + t2 * stride and vBase + t2 * stride. The same operations, in the
     * same order, as the matching row of {@link #forwardHead}; scores and work (>= count each) are work space.
     */
    public static void decode(float[] out, int outBase, float[] q, int qBase, float[] k, int kBase, float[] v,
                              int vBase, int stride, int count, int hs, float[] scores, float[] work) {
        for (int t2 = 0; t2 < count; t2++) {
            int kt = kBase + t2 * stride;
            float y = 0f;
            int i = 0;
            for (; i + 2 <= hs; i += 2) {
                y = Math.fma(q[qBase + i + 1], k[kt + i + 1], Math.fma(q[qBase + i], k[kt + i], y));
            }
            if (i < hs) {
                y = Math.fma(q[qBase + i], k[kt + i], y);
            }
            scores[t2] = y;
        }
        softmaxRow(scores, count, (float) (1.0 / Math.sqrt(hs)), work);
        for (int i = 0; i < hs; i++) {
            float y = 0f;
            int t2 = 0;
            for (; t2 + 2 <= count; t2 += 2) {
                y = Math.fma(v[vBase + (t2 + 1) * stride + i], scores[t2 + 1],
                        Math.fma(v[vBase + t2 * stride + i], scores[t2], y));
            }
            if (t2 < count) {
                y = Math.fma(v[vBase + t2 * stride + i], scores[t2], y);
            }
            out[outBase + i] = y;
        }
    }

    /** row[0..count) = softmax(row * scale), in place; work (>= count) is scratch. */
    private static void softmaxRow(float[] row, int count, float scale, float[] work) {
        float max = Float.NEGATIVE_INFINITY;
        for (int t2 = 0; t2 < count; t2++) {
            row[t2] *= scale;
            max = Math.max(max, row[t2]);
        }
        for (int t2 = 0; t2 < count; t2++) {
            row[t2] -= max;
        }
        Exp.exp(row, work, count);
        float sum = 0f;
        for (int t2 = 0; t2 < count; t2++) {
            sum += row[t2];
        }
        float inverse = 1f / sum;
        for (int t2 = 0; t2 < count; t2++) {
            row[t2] *= inverse;
        }
    }

    /** coef[k * 4 + r] = src[base + k * stride] for k < n. */
    private static void gather(float[] coef, int r, float[] src, int base, int stride, int n) {
        for (int k = 0; k < n; k++) {
            coef[k * 4 + r] = src[base + k * stride];
        }
    }

    /** dst[i][t] = src[base + t * stride + i]: one head of q, k or v, transposed to (hs, T). */
    private static void transposeHead(float[][] dst, float[] src, int base, int stride, int T, int hs) {
        for (int t = 0; t < T; t++) {
            int row = base + t * stride;
            for (int i = 0; i < hs; i++) {
                dst[i][t] = src[row + i];
            }
        }
    }

    /** dst[t2][t] = src[t][t2] for a (T, T) block. */
    private static void transpose(float[][] dst, float[][] src, int T) {
        for (int t = 0; t < T; t++) {
            float[] row = src[t];
            for (int t2 = 0; t2 < T; t2++) {
                dst[t2][t] = row[t2];
            }
        }
    }

    /** dst[base + t * stride + i] = yT[i][t]. */
    private static void scatter(float[] dst, int base, int stride, float[][] yT, int T, int hs) {
        for (int t = 0; t < T; t++) {
            int row = base + t * stride;
            for (int i = 0; i < hs; i++) {
                dst[row + i] = yT[i][t];
            }
        }
    }

    private static void zero(float[][] rows, int n, int length) {
        for (int r = 0; r < n; r++) {
            Arrays.fill(rows[r], 0, length, 0f);
        }
    }
}
