package io.streamtrain.model;

import java.util.Arrays;

/**
 * The ground truth every backend is checked against: each kernel of {@link Kernels} once more, as the shortest
 * plain loops, in double precision, on one thread, rounded to float only when stored. Nothing is tuned, blocked or
 * fused; a reader can check each method against its formula. The compatibility kit ({@link KernelsCompatibilityTest})
 * compares the CPU and CUDA backends with this class; the gradient tests compare the CPU backward kernels with
 * finite differences of the static forward functions ({@link #encoder}, {@link #layernorm}, {@link #matmul},
 * {@link #attention}, {@link #gelu}, {@link #residual}, {@link #crossEntropy}).
 *
 * <p>Shapes as in {@link Kernels}: B batch, T positions, C channels, NH heads, V vocabulary, Vp padded vocabulary,
 * OC output channels, N = B * T. Attention keeps no statistics: backward recomputes the softmax from qkv.
 */
public final class ReferenceKernels implements Kernels {
    private static final double LAYERNORM_EPS = 1e-5;
    private static final double GELU_SCALE = Math.sqrt(2 / Math.PI);

    private long allocatedBytes;

    // ---- the forward functions, in double ---------------------------------------------------

    /** out (B, T, C) = wte[tokens] + wpe[t]. */
    public static double[] encoder(int[] tokens, double[] wte, double[] wpe, int B, int T, int C) {
        double[] out = new double[B * T * C];
        for (int bt = 0; bt < B * T; bt++) {
            for (int i = 0; i < C; i++) {
                out[bt * C + i] = wte[tokens[bt] * C + i] + wpe[(bt % T) * C + i];
            }
        }
        return out;
    }

    /** mean (N) and rstd (N) = 1 / sqrt(variance + 1e-5) of each row of inp (N, C). */
    public static double[][] layernormStatistics(double[] inp, int N, int C) {
        double[] mean = new double[N];
        double[] rstd = new double[N];
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < C; i++) {
                mean[n] += inp[n * C + i] / C;
            }
            double variance = 0;
            for (int i = 0; i < C; i++) {
                variance += (inp[n * C + i] - mean[n]) * (inp[n * C + i] - mean[n]) / C;
            }
            rstd[n] = 1 / Math.sqrt(variance + LAYERNORM_EPS);
        }
        return new double[][] {mean, rstd};
    }

    /** out (N, C) = (x - mean) / sqrt(var + 1e-5) * weight + bias. */
    public static double[] layernorm(double[] inp, double[] weight, double[] bias, int N, int C) {
        double[][] statistics = layernormStatistics(inp, N, C);
        double[] out = new double[N * C];
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < C; i++) {
                out[n * C + i] = (inp[n * C + i] - statistics[0][n]) * statistics[1][n] * weight[i] + bias[i];
            }
        }
        return out;
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC, or null). */
    public static double[] matmul(double[] inp, double[] weight, double[] bias, int N, int C, int OC) {
        double[] out = new double[N * OC];
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < OC; o++) {
                double sum = bias == null ? 0 : bias[o];
                for (int i = 0; i < C; i++) {
                    sum += inp[n * C + i] * weight[o * C + i];
                }
                out[n * OC + o] = sum;
            }
        }
        return out;
    }

    /** The causal softmax row (t + 1) of head h of row b: softmax over t2 <= t of q[t] · k[t2] / sqrt(hs). */
    private static double[] attentionRow(double[] qkv, int b, int h, int t, int T, int C, int NH) {
        int hs = C / NH;
        double[] att = new double[t + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int t2 = 0; t2 <= t; t2++) {
            double dot = 0;
            for (int i = 0; i < hs; i++) {
                dot += qkv[(b * T + t) * 3 * C + h * hs + i] * qkv[(b * T + t2) * 3 * C + C + h * hs + i];
            }
            att[t2] = dot / Math.sqrt(hs);
            max = Math.max(max, att[t2]);
        }
        double sum = 0;
        for (int t2 = 0; t2 <= t; t2++) {
            att[t2] = Math.exp(att[t2] - max);
            sum += att[t2];
        }
        for (int t2 = 0; t2 <= t; t2++) {
            att[t2] /= sum;
        }
        return att;
    }

    /**
     * The dropout factor of element i of the mask keyed by {@code key} at drop probability p, as {@link
     * Kernels#dropout} defines it: 0 when dropped, 1 / (1 - p) when kept (1 for p = 0).
     */
    public static double dropoutFactor(long key, long i, float p) {
        long z = key + (i + 1) * 0x9E3779B97F4A7C15L;  // SplitMix64's output function of the counter
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) >= (int) (p * 0x1.0p24f) ? 1.0 / (1.0 - p) : 0.0;
    }

    /** x times the dropout mask of {@code key} (p = 0: x). */
    public static double[] dropout(double[] x, float p, long key) {
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * dropoutFactor(key, i, p);
        }
        return out;
    }

    /** Causal attention: out (B, T, C) from qkv (B, T, 3C), softmax of q·k / sqrt(hs). */
    public static double[] attention(double[] qkv, int B, int T, int C, int NH) {
        return attention(qkv, B, T, C, NH, 0f, 0L);
    }

    /**
     * Causal attention with dropout p on the attention weights: the weight of value t2 for query t of head h of row b
     * is the softmax times the factor of element ((b * NH + h) * T + t) * T + t2 of the mask of {@code key}.
     */
    public static double[] attention(double[] qkv, int B, int T, int C, int NH, float p, long key) {
        int hs = C / NH;
        double[] out = new double[B * T * C];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    double[] att = attentionRow(qkv, b, h, t, T, C, NH);
                    for (int t2 = 0; t2 <= t; t2++) {
                        double weight = att[t2] * dropoutFactor(key, ((long) (b * NH + h) * T + t) * T + t2, p);
                        for (int i = 0; i < hs; i++) {
                            out[(b * T + t) * C + h * hs + i] +=
                                    weight * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
                        }
                    }
                }
            }
        }
        return out;
    }

    /** gelu, tanh approximation. */
    public static double[] gelu(double[] inp) {
        double[] out = new double[inp.length];
        for (int i = 0; i < inp.length; i++) {
            double x = inp[i];
            out[i] = 0.5 * x * (1 + Math.tanh(GELU_SCALE * (x + 0.044715 * x * x * x)));
        }
        return out;
    }

    public static double[] residual(double[] a, double[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] + b[i];
        }
        return out;
    }

    /** losses (N) = -log softmax(logits[n, :V])[target]; padding columns [V, Vp) ignored. */
    public static double[] crossEntropy(double[] logits, int[] targets, int N, int V, int Vp) {
        double[] losses = new double[N];
        for (int n = 0; n < N; n++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < V; i++) {
                max = Math.max(max, logits[n * Vp + i]);
            }
            double sum = 0;
            for (int i = 0; i < V; i++) {
                sum += Math.exp(logits[n * Vp + i] - max);
            }
            losses[n] = Math.log(sum) + max - logits[n * Vp + targets[n]];
        }
        return losses;
    }

    // ---- memory -------------------------------------------------------------------------------

    /** A float32 view: elements [offset, offset + length) of a Java array. */
    private record Floats(float[] array, int offset, int length) implements Tensor {
        @Override
        public long size() {
            return length;
        }

        @Override
        public Tensor slice(long offset, long size) {
            return new Floats(array, sliceStart(this.offset, length, offset, size), (int) size);
        }
    }

    /** An int32 view: elements [offset, offset + length) of a Java array. */
    private record Ints(int[] array, int offset, int length) implements IntTensor {
        @Override
        public long size() {
            return length;
        }

        @Override
        public IntTensor slice(long offset, long size) {
            return new Ints(array, sliceStart(this.offset, length, offset, size), (int) size);
        }
    }

    /** Where a slice [offset, offset + size) of a view [start, start + length) starts in the array. */
    private static int sliceStart(int start, int length, long offset, long size) {
        if (offset < 0 || size < 0 || offset + size > length) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + (offset + size) + ") of " + length);
        }
        return start + (int) offset;
    }

    private static Floats floats(Tensor tensor, long needed) {
        Floats t = (Floats) tensor;
        if (t.length < needed) {
            throw new IllegalArgumentException("a tensor of " + t.length + " floats, " + needed + " needed");
        }
        return t;
    }

    /** The first n elements of tensor, in double. */
    private static double[] get(Tensor tensor, long n) {
        Floats t = floats(tensor, n);
        double[] x = new double[(int) n];
        for (int i = 0; i < n; i++) {
            x[i] = t.array[t.offset + i];
        }
        return x;
    }

    private static int[] getInts(IntTensor tensor, long n) {
        Ints t = (Ints) tensor;
        return Arrays.copyOfRange(t.array, t.offset, t.offset + (int) n);
    }

    /** tensor[i] = x[i], rounded to float. */
    private static void set(Tensor tensor, double[] x) {
        Floats t = floats(tensor, x.length);
        for (int i = 0; i < x.length; i++) {
            t.array[t.offset + i] = (float) x[i];
        }
    }

    /** tensor[i] += x[i], the sum in double, rounded to float. */
    private static void add(Tensor tensor, double[] x) {
        Floats t = floats(tensor, x.length);
        for (int i = 0; i < x.length; i++) {
            t.array[t.offset + i] = (float) (t.array[t.offset + i] + x[i]);
        }
    }

    @Override
    public String backendName() {
        return "reference";
    }

    @Override
    public String deviceName() {
        return "1 CPU thread, in double";
    }

    @Override
    public Tensor allocate(long size) {
        allocatedBytes += 4 * size;
        return new Floats(new float[(int) size], 0, (int) size);
    }

    @Override
    public IntTensor allocateInts(long size) {
        allocatedBytes += 4 * size;
        return new Ints(new int[(int) size], 0, (int) size);
    }

    @Override
    public long allocatedBytes() {
        return allocatedBytes;
    }

    @Override
    public void write(Tensor dst, float[] src, int srcOffset) {
        Floats d = (Floats) dst;
        System.arraycopy(src, srcOffset, d.array, d.offset, d.length);
    }

    @Override
    public void writeInts(IntTensor dst, int[] src, int srcOffset, int count) {
        Ints d = (Ints) dst;
        System.arraycopy(src, srcOffset, d.array, d.offset, count);
    }

    @Override
    public void read(float[] dst, int dstOffset, Tensor src) {
        Floats s = (Floats) src;
        System.arraycopy(s.array, s.offset, dst, dstOffset, s.length);
    }

    @Override
    public void readInts(int[] dst, int dstOffset, IntTensor src) {
        Ints s = (Ints) src;
        System.arraycopy(s.array, s.offset, dst, dstOffset, s.length);
    }

    @Override
    public void fill(Tensor out, float value) {
        Floats o = (Floats) out;
        Arrays.fill(o.array, o.offset, o.offset + o.length, value);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        Floats o = (Floats) out;
        Floats s = floats(src, o.length);
        System.arraycopy(s.array, s.offset, o.array, o.offset, o.length);
    }

    // ---- the kernels ----------------------------------------------------------------------------

    @Override
    public void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        Floats te = (Floats) wte;
        set(out, encoder(getInts(tokens, B * T), get(wte, te.length), get(wpe, (long) T * C), B, T, C));
    }

    @Override
    public void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        int[] ix = getInts(tokens, B * T);
        double[] d = get(dout, (long) B * T * C);
        double[] dte = new double[((Floats) dwte).length];
        double[] dpe = new double[T * C];
        for (int bt = 0; bt < B * T; bt++) {
            for (int i = 0; i < C; i++) {
                dte[ix[bt] * C + i] += d[bt * C + i];
                dpe[(bt % T) * C + i] += d[bt * C + i];
            }
        }
        add(dwte, dte);
        add(dwpe, dpe);
    }

    @Override
    public void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int N, int C) {
        double[] x = get(inp, (long) N * C);
        set(out, layernorm(x, get(weight, C), get(bias, C), N, C));
        double[][] statistics = layernormStatistics(x, N, C);
        set(mean, statistics[0]);
        set(rstd, statistics[1]);
    }

    /**
     * With norm = (x - mean) * rstd and dnorm = weight * dout per row: dbias += dout, dweight += dout * norm,
     * dinp += (dnorm - mean(dnorm) - norm * mean(dnorm * norm)) * rstd.
     */
    @Override
    public void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        double[] x = get(inp, (long) N * C);
        double[] g = get(dout, (long) N * C);
        double[] w = get(weight, C);
        double[] m = get(mean, N);
        double[] s = get(rstd, N);
        double[] dx = new double[N * C];
        double[] dw = new double[C];
        double[] db = new double[C];
        for (int n = 0; n < N; n++) {
            double dnormMean = 0;
            double dnormNormMean = 0;
            for (int i = 0; i < C; i++) {
                double norm = (x[n * C + i] - m[n]) * s[n];
                dnormMean += w[i] * g[n * C + i] / C;
                dnormNormMean += w[i] * g[n * C + i] * norm / C;
            }
            for (int i = 0; i < C; i++) {
                double norm = (x[n * C + i] - m[n]) * s[n];
                dx[n * C + i] = (w[i] * g[n * C + i] - dnormMean - norm * dnormNormMean) * s[n];
                dw[i] += g[n * C + i] * norm;
                db[i] += g[n * C + i];
            }
        }
        add(dinp, dx);
        add(dweight, dw);
        add(dbias, db);
    }

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        set(out, matmul(get(inp, (long) N * C), get(weight, (long) OC * C), bias == null ? null : get(bias, OC),
                N, C, OC));
    }

    /** dinp (N, C) = dout · weight (written); dweight (OC, C) += doutᵀ · inp; dbias (OC) += the column sums of dout. */
    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                               int N, int C, int OC) {
        double[] d = get(dout, (long) N * OC);
        double[] x = get(inp, (long) N * C);
        double[] w = get(weight, (long) OC * C);
        double[] dx = new double[N * C];
        double[] dw = new double[OC * C];
        double[] db = new double[OC];
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < OC; o++) {
                double g = d[n * OC + o];
                for (int i = 0; i < C; i++) {
                    dx[n * C + i] += g * w[o * C + i];
                    dw[o * C + i] += g * x[n * C + i];
                }
                db[o] += g;
            }
        }
        set(dinp, dx);
        add(dweight, dw);
        if (dbias != null) {
            add(dbias, db);
        }
    }

    @Override
    public long attentionStatisticsSize(int B, int T, int NH) {
        return 1;  // none kept: backward recomputes the softmax
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH) {
        attentionForward(out, stats, qkv, B, T, C, NH, 0f, 0L);
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float dropout,
                                 long key) {
        set(out, attention(get(qkv, 3L * B * T * C), B, T, C, NH, dropout, key));
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                                  int NH) {
        attentionBackward(dqkv, dout, qkv, out, stats, B, T, C, NH, 0f, 0L);
    }

    /**
     * With A the softmax row of (b, h, t): dA[t2] = dout[t] · v[t2]; dS[t2] = A[t2] (dA[t2] - sum of A dA) / sqrt(hs);
     * dq[t] = sum of dS[t2] k[t2]; dk[t2] = sum of dS[t2] q[t]; dv[t2] = sum of A[t2] dout[t]: dqkv is written.
     * With dropout, M the mask's factors: dA[t2] = M[t2] (dout[t] · v[t2]) and dv[t2] = sum of M[t2] A[t2] dout[t].
     */
    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                                  int NH, float dropout, long key) {
        int hs = C / NH;
        double[] x = get(qkv, 3L * B * T * C);
        double[] g = get(dout, (long) B * T * C);
        double[] dx = new double[3 * B * T * C];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    double[] att = attentionRow(x, b, h, t, T, C, NH);
                    int q = (b * T + t) * 3 * C + h * hs;
                    int gt = (b * T + t) * C + h * hs;
                    double[] dAtt = new double[t + 1];
                    double[] factor = new double[t + 1];
                    double weighted = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        factor[t2] = dropoutFactor(key, ((long) (b * NH + h) * T + t) * T + t2, dropout);
                        for (int i = 0; i < hs; i++) {
                            dAtt[t2] += g[gt + i] * x[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
                        }
                        dAtt[t2] *= factor[t2];
                        weighted += att[t2] * dAtt[t2];
                    }
                    for (int t2 = 0; t2 <= t; t2++) {
                        int k = (b * T + t2) * 3 * C + C + h * hs;
                        int v = k + C;
                        double dScore = att[t2] * (dAtt[t2] - weighted) / Math.sqrt(hs);
                        for (int i = 0; i < hs; i++) {
                            dx[q + i] += dScore * x[k + i];
                            dx[k + i] += dScore * x[q + i];
                            dx[v + i] += factor[t2] * att[t2] * g[gt + i];
                        }
                    }
                }
            }
        }
        set(dqkv, dx);
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, int N) {
        set(out, gelu(get(inp, N)));
    }

    /** dinp = dout * (0.5 (1 + tanh u) + 0.5 x sech² u * sqrt(2/pi) (1 + 3 * 0.044715 x²)). */
    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        double[] x = get(inp, N);
        double[] g = get(dout, N);
        double[] dx = new double[N];
        for (int i = 0; i < N; i++) {
            double tanh = Math.tanh(GELU_SCALE * (x[i] + 0.044715 * x[i] * x[i] * x[i]));
            double local = 0.5 * (1 + tanh)
                    + 0.5 * x[i] * (1 - tanh * tanh) * GELU_SCALE * (1 + 3 * 0.044715 * x[i] * x[i]);
            dx[i] = local * g[i];
        }
        set(dinp, dx);
    }

    @Override
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        set(out, residual(get(inp1, N), get(inp2, N)));
    }

    @Override
    public void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        set(out, dropout(get(inp, N), p, key));
    }

    @Override
    public void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        set(out, residual(get(inp1, N), dropout(get(inp2, N), p, key)));
    }

    @Override
    public boolean supportsDropout() {
        return true;
    }

    /** dlogits = (softmax - onehot(target)) * dlossScale on [0, V), 0 on the padding; correct = first argmax == target. */
    @Override
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        double[] z = get(logits, (long) N * Vp);
        int[] target = getInts(targets, N);
        double[] right = new double[N];
        double[] gradient = new double[N * Vp];
        for (int n = 0; n < N; n++) {
            int argmax = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < V; i++) {
                if (z[n * Vp + i] > max) {
                    max = z[n * Vp + i];
                    argmax = i;
                }
            }
            right[n] = argmax == target[n] ? 1 : 0;
            double sum = 0;
            for (int i = 0; i < V; i++) {
                sum += Math.exp(z[n * Vp + i] - max);
            }
            for (int i = 0; i < V; i++) {
                double softmax = Math.exp(z[n * Vp + i] - max) / sum;
                gradient[n * Vp + i] = (softmax - (i == target[n] ? 1 : 0)) * dlossScale;
            }
        }
        set(losses, crossEntropy(z, target, N, V, Vp));
        set(correct, right);
        if (backward) {
            set(dlogits, gradient);
        }
    }

    @Override
    public void mean(Tensor out, Tensor inp, long n) {
        double sum = 0;
        for (double x : get(inp, n)) {
            sum += x;
        }
        set(out, new double[] {sum / n});
    }

    @Override
    public void globalNorm(Tensor out, Tensor inp, long n) {
        double sum = 0;
        for (double x : get(inp, n)) {
            sum += x * x;
        }
        set(out, new double[] {Math.sqrt(sum)});
    }

    /** torch.optim.AdamW element by element, after clipping the gradient to maxGradNorm; skipped on a non-finite norm. */
    @Override
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        double norm = get(gradNorm, 1)[0];
        if (!Double.isFinite(norm)) {
            return;
        }
        double scale = Math.min(1, maxGradNorm / (norm + 1e-6));
        double[] p = get(params, n);
        double[] mm = get(m, n);
        double[] vv = get(v, n);
        double[] g = get(grads, n);
        for (int i = 0; i < n; i++) {
            double grad = g[i] * scale;
            if (i < decayedSize) {
                p[i] -= learningRate * weightDecay * p[i];
            }
            mm[i] = beta1 * mm[i] + (1 - beta1) * grad;
            vv[i] = beta2 * vv[i] + (1 - beta2) * grad * grad;
            double mHat = mm[i] / (1 - Math.pow(beta1, step));
            double vHat = vv[i] / (1 - Math.pow(beta2, step));
            p[i] -= learningRate * mHat / (Math.sqrt(vHat) + eps);
        }
        set(params, p);
        set(m, mm);
        set(v, vv);
    }

    /** Each head: the softmax over positions [0, position] of q · k / sqrt(hs), applied to v. */
    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        int hs = C / NH;
        double[] query = get(q, C);
        double[] k = get(kcache, (long) (position + 1) * C);
        double[] v = get(vcache, (long) (position + 1) * C);
        double[] o = new double[C];
        for (int h = 0; h < NH; h++) {
            double[] att = new double[position + 1];
            double max = Double.NEGATIVE_INFINITY;
            for (int t2 = 0; t2 <= position; t2++) {
                for (int i = 0; i < hs; i++) {
                    att[t2] += query[h * hs + i] * k[t2 * C + h * hs + i] / Math.sqrt(hs);
                }
                max = Math.max(max, att[t2]);
            }
            double sum = 0;
            for (int t2 = 0; t2 <= position; t2++) {
                att[t2] = Math.exp(att[t2] - max);
                sum += att[t2];
            }
            for (int t2 = 0; t2 <= position; t2++) {
                for (int i = 0; i < hs; i++) {
                    o[h * hs + i] += att[t2] / sum * v[t2 * C + h * hs + i];
                }
            }
        }
        set(out, o);
    }

    /**
     * Greedy: the first id of the largest logit. Otherwise the ids kept are those of the topK largest logits (ties
     * at the k-th value kept in increasing id order); walking them in increasing id order, exp((logit - max) /
     * temperature) (in float, widened) is summed in double, and the first id whose running sum exceeds coin times
     * the total is drawn (the last kept id if rounding leaves none). The draw must be the same on every backend.
     */
    @Override
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        Floats z = floats(logits, V);
        float[] x = Arrays.copyOfRange(z.array, z.offset, z.offset + V);
        Floats coinView = floats(coin, 1);
        float u = coinView.array[coinView.offset];
        int argmax = 0;
        for (int i = 1; i < V; i++) {
            if (x[i] > x[argmax]) {
                argmax = i;
            }
        }
        Ints o = (Ints) out;
        if (temperature == 0f || topK == 1) {
            o.array[o.offset] = argmax;
            return;
        }
        int k = topK <= 0 || topK >= V ? V : topK;
        float[] sorted = x.clone();
        Arrays.sort(sorted);
        float threshold = sorted[V - k];  // the k-th largest
        boolean[] kept = new boolean[V];
        int ties = k;
        for (int i = 0; i < V; i++) {
            if (x[i] > threshold) {
                kept[i] = true;
                ties--;
            }
        }
        for (int i = 0; i < V && ties > 0; i++) {
            if (x[i] == threshold) {
                kept[i] = true;
                ties--;
            }
        }
        double total = 0;
        for (int i = 0; i < V; i++) {
            if (kept[i]) {
                total += Math.exp((x[i] - x[argmax]) / temperature);
            }
        }
        double cumulative = 0;
        int chosen = argmax;
        for (int i = 0; i < V; i++) {
            if (kept[i]) {
                cumulative += Math.exp((x[i] - x[argmax]) / temperature);
                chosen = i;
                if (cumulative > u * total) {
                    break;
                }
            }
        }
        o.array[o.offset] = chosen;
    }

    @Override
    public void close() {
    }
}
