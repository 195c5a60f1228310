package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;
import static io.streamtrain.model.cpu.internal.Views.ints;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;

/**
 * The sampling family ({@code sampling.cu} on the GPU): one position of attention against the KV cache (the
 * arithmetic of {@link Attention}'s rows, so a decoded position has the same bits as in training) and drawing the
 * next token. On the calling thread; the scratch rows are grown on first use.
 */
public final class Sampling {
    /** Scores of one decode position (position + 1), grown on first use. */
    private float[] decodeScores = new float[0];
    private float[] decodeWork = new float[0];
    /** Logits copied for the top-k selection of {@link #sample}, grown on first use. */
    private float[] sampleScratch = new float[0];

    /** out (C) = attention of q (C) over kcache and vcache (position + 1, C), every head. */
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        CpuTensor o = floats(out, C, "attentionDecode", "out");
        CpuTensor query = floats(q, C, "attentionDecode", "q");
        CpuTensor k = floats(kcache, (long) (position + 1) * C, "attentionDecode", "kcache");
        CpuTensor v = floats(vcache, (long) (position + 1) * C, "attentionDecode", "vcache");
        int hs = C / NH;
        if (decodeScores.length < position + 1) {
            decodeScores = new float[Math.max(position + 1, 2 * decodeScores.length)];
            decodeWork = new float[decodeScores.length];
        }
        for (int h = 0; h < NH; h++) {
            Attention.decode(o.array, o.offset + h * hs, query.array, query.offset + h * hs,
                    k.array, k.offset + h * hs, v.array, v.offset + h * hs, C, position + 1, hs, decodeScores, decodeWork);
        }
    }

    /**
     * out (1) = the id drawn from logits (V) with coin (1) in [0, 1). Exactly: greedy is the first id of the
     * largest logit. Otherwise the kept ids are those of the topK largest logits (ties at the k-th value kept in
     * increasing id order); the draw walks the kept ids in increasing order, accumulating
     * exp((logit - max) / temperature) in double, and returns the first id whose running sum exceeds coin times
     * the total (the last kept id if rounding leaves none).
     */
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        CpuIntTensor o = ints(out, 1, "sample", "out");
        CpuTensor z = floats(logits, V, "sample", "logits");
        CpuTensor coinView = floats(coin, 1, "sample", "coin");
        float u = coinView.array[coinView.offset];
        if (!(temperature >= 0f)) {
            throw new IllegalArgumentException("sample: temperature must be 0 (greedy) or positive, got " + temperature);
        }
        float[] x = z.array;
        int base = z.offset;
        int argmax = 0;
        for (int i = 1; i < V; i++) {
            if (x[base + i] > x[base + argmax]) {
                argmax = i;
            }
        }
        if (temperature == 0f || topK == 1) {
            o.array[o.offset] = argmax;
            return;
        }
        // Keep the topK largest logits: every logit above the k-th largest, then ties with it in id order.
        int k = topK <= 0 || topK >= V ? V : topK;
        float threshold = k == V ? Float.NEGATIVE_INFINITY : kthLargest(x, base, V, k);
        int above = 0;
        for (int i = 0; i < V; i++) {
            if (x[base + i] > threshold) {
                above++;
            }
        }
        int tiesKept = k - above;
        // softmax(logits / temperature) over the kept ids, then the first id whose cumulative mass exceeds coin
        float max = x[base + argmax];
        double total = 0.0;
        int ties = tiesKept;
        for (int i = 0; i < V; i++) {
            float xi = x[base + i];
            if (xi > threshold || (xi == threshold && ties-- > 0)) {
                total += Math.exp((xi - max) / temperature);
            }
        }
        double target = u * total;
        double cumulative = 0.0;
        int chosen = argmax;
        ties = tiesKept;
        for (int i = 0; i < V; i++) {
            float xi = x[base + i];
            if (xi > threshold || (xi == threshold && ties-- > 0)) {
                cumulative += Math.exp((xi - max) / temperature);
                chosen = i;
                if (cumulative > target) {
                    break;
                }
            }
        }
        o.array[o.offset] = chosen;
    }

    /** The k-th largest of x[base .. base + n), by quickselect on a scratch copy. */
    private float kthLargest(float[] x, int base, int n, int k) {
        if (sampleScratch.length < n) {
            sampleScratch = new float[n];
        }
        float[] a = sampleScratch;
        System.arraycopy(x, base, a, 0, n);
        int lo = 0;
        int hi = n - 1;
        int want = k - 1; // index of the answer in descending order
        while (lo < hi) {
            float pivot = a[(lo + hi) >>> 1];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] > pivot) {
                    i++;
                }
                while (a[j] < pivot) {
                    j--;
                }
                if (i <= j) {
                    float swap = a[i];
                    a[i] = a[j];
                    a[j] = swap;
                    i++;
                    j--;
                }
            }
            if (want <= j) {
                hi = j;
            } else if (want >= i) {
                lo = i;
            } else {
                break;
            }
        }
        return a[want];
    }
}
