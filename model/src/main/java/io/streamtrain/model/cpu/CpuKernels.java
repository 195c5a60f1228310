package io.streamtrain.model.cpu;

import static io.streamtrain.model.cpu.internal.Views.floats;
import static io.streamtrain.model.cpu.internal.Views.ints;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.Attention;
import io.streamtrain.model.cpu.internal.CpuIntTensor;
import io.streamtrain.model.cpu.internal.CpuTensor;
import io.streamtrain.model.cpu.internal.Matmul;
import io.streamtrain.model.cpu.internal.Pointwise;
import io.streamtrain.model.cpu.internal.WorkerPool;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The CPU reference backend: the kernels of llm.c's {@code train_gpt2.c}, same math, as Java loops over
 * float arrays, split over a fixed pool of threads.
 *
 * <p>The simple kernels are written here as plain loops. The four that cost the time of a step are
 * blocked so that HotSpot vectorizes them and live in the internal package: matrix products
 * ({@code Matmul}), attention ({@code Attention}), gelu and the softmax cross-entropy ({@code Pointwise}),
 * all on one vectorized loop ({@code MicroKernel}); their comments say what each block computes.
 *
 * <p>Determinism: work is split so that every output element is written by one chunk and every sum
 * runs in an order fixed by the shapes alone (reductions across chunks add fixed-size partials in
 * order), so results are the same bits with any number of threads; the compatibility test checks it.
 * Tensors are views of Java arrays and {@link #allocate} is the only place tensor memory is created.
 * Scratch arrays (per-thread tiles, norm partials, the decode scores) are sized on first use for a
 * shape and reused, so a warm training step allocates nothing.
 */
public final class CpuKernels implements Kernels {

    private static final float LAYERNORM_EPS = 1e-5f;
    /** Elements per chunk of the reductions (global norm): fixed, so that the sum order is too. */
    private static final int REDUCTION_BLOCK = 1 << 15;
    /** Numbers the backends of this JVM, for their thread names. */
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final WorkerPool pool;
    private long allocatedBytes;

    private final MatmulForwardTask matmulForwardTask = new MatmulForwardTask();
    private final MatmulBackwardInputTask matmulBackwardInputTask = new MatmulBackwardInputTask();
    private final MatmulBackwardWeightTask matmulBackwardWeightTask = new MatmulBackwardWeightTask();
    private final LayernormForwardTask layernormForwardTask = new LayernormForwardTask();
    private final LayernormBackwardTask layernormBackwardTask = new LayernormBackwardTask();
    private final AttentionForwardTask attentionForwardTask = new AttentionForwardTask();
    private final AttentionBackwardTask attentionBackwardTask = new AttentionBackwardTask();
    private final GeluTask geluTask = new GeluTask();
    private final SoftmaxCrossEntropyTask softmaxCrossEntropyTask = new SoftmaxCrossEntropyTask();
    private final SquareSumTask squareSumTask = new SquareSumTask();
    private final AdamwTask adamwTask = new AdamwTask();
    /** Scores of one decode position (position + 1), grown on first use. */
    private float[] decodeScores = new float[0];
    private float[] decodeWork = new float[0];
    /** Logits copied for the top-k selection of {@link #sample}, grown on first use. */
    private float[] sampleScratch = new float[0];

    /** A backend on {@code threads} threads: the caller and {@code threads - 1} daemon workers. */
    public CpuKernels(int threads) {
        this.pool = new WorkerPool(threads, "streamtrain-cpu-kernels-" + INSTANCES.incrementAndGet());
    }

    /** A backend on every available processor. */
    public static CpuKernels create() {
        return new CpuKernels(Runtime.getRuntime().availableProcessors());
    }

    @Override
    public String backendName() {
        return "cpu";
    }

    @Override
    public String deviceName() {
        return pool.threads() + (pool.threads() == 1 ? " CPU thread" : " CPU threads");
    }

    /** Threads that share each kernel. */
    public int threads() {
        return pool.threads();
    }

    // ---- memory -------------------------------------------------------------------------

    @Override
    public Tensor allocate(long size) {
        checkAllocation(size, "floats");
        allocatedBytes += 4 * size;
        return new CpuTensor(new float[(int) size], 0, (int) size);
    }

    @Override
    public IntTensor allocateInts(long size) {
        checkAllocation(size, "ints");
        allocatedBytes += 4 * size;
        return new CpuIntTensor(new int[(int) size], 0, (int) size);
    }

    private static void checkAllocation(long size, String what) {
        if (size < 0 || size > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("cannot allocate " + size + " " + what
                    + " on the CPU: a Java array holds at most " + (Integer.MAX_VALUE - 8)
                    + "; use a smaller model or batch");
        }
    }

    @Override
    public long allocatedBytes() {
        return allocatedBytes;
    }

    @Override
    public void write(Tensor dst, float[] src, int srcOffset) {
        CpuTensor d = floats(dst, 0, "write", "dst");
        System.arraycopy(src, srcOffset, d.array, d.offset, d.length);
    }

    @Override
    public void writeInts(IntTensor dst, int[] src, int srcOffset, int count) {
        CpuIntTensor d = ints(dst, count, "writeInts", "dst");
        System.arraycopy(src, srcOffset, d.array, d.offset, count);
    }

    @Override
    public void read(float[] dst, int dstOffset, Tensor src) {
        CpuTensor s = floats(src, 0, "read", "src");
        System.arraycopy(s.array, s.offset, dst, dstOffset, s.length);
    }

    @Override
    public void readInts(int[] dst, int dstOffset, IntTensor src) {
        CpuIntTensor s = ints(src, 0, "readInts", "src");
        System.arraycopy(s.array, s.offset, dst, dstOffset, s.length);
    }

    @Override
    public void fill(Tensor out, float value) {
        CpuTensor o = floats(out, 0, "fill", "out");
        Arrays.fill(o.array, o.offset, o.offset + o.length, value);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        CpuTensor o = floats(out, 0, "copy", "out");
        CpuTensor s = floats(src, o.length, "copy", "src");
        System.arraycopy(s.array, s.offset, o.array, o.offset, o.length);
    }

    // ---- encoder --------------------------------------------------------------------------

    @Override
    public void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        CpuTensor o = floats(out, (long) B * T * C, "encoderForward", "out");
        CpuIntTensor ix = ints(tokens, (long) B * T, "encoderForward", "tokens");
        CpuTensor te = floats(wte, 0, "encoderForward", "wte");
        CpuTensor pe = floats(wpe, (long) T * C, "encoderForward", "wpe");
        int vocabularyRows = te.length / C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                int token = checkedToken(ix, b * T + t, vocabularyRows, "encoderForward");
                int outBase = o.offset + (b * T + t) * C; // out[b, t, :]
                int teBase = te.offset + token * C;       // wte[token, :]
                int peBase = pe.offset + t * C;           // wpe[t, :]
                for (int i = 0; i < C; i++) {
                    o.array[outBase + i] = te.array[teBase + i] + pe.array[peBase + i];
                }
            }
        }
    }

    @Override
    public void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        CpuTensor dte = floats(dwte, 0, "encoderBackward", "dwte");
        CpuTensor dpe = floats(dwpe, (long) T * C, "encoderBackward", "dwpe");
        CpuTensor d = floats(dout, (long) B * T * C, "encoderBackward", "dout");
        CpuIntTensor ix = ints(tokens, (long) B * T, "encoderBackward", "tokens");
        int vocabularyRows = dte.length / C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                int token = checkedToken(ix, b * T + t, vocabularyRows, "encoderBackward");
                int dBase = d.offset + (b * T + t) * C;
                int teBase = dte.offset + token * C;
                int peBase = dpe.offset + t * C;
                for (int i = 0; i < C; i++) {
                    float g = d.array[dBase + i];
                    dte.array[teBase + i] += g;
                    dpe.array[peBase + i] += g;
                }
            }
        }
    }

    private static int checkedToken(CpuIntTensor tokens, int index, int vocabularyRows, String kernel) {
        int token = tokens.array[tokens.offset + index];
        if (token < 0 || token >= vocabularyRows) {
            throw new IllegalArgumentException(kernel + ": token id " + token + " at position " + index
                    + " is outside the embedding's " + vocabularyRows + " rows: check the tokenizer's vocabulary size");
        }
        return token;
    }

    // ---- layernorm ------------------------------------------------------------------------

    @Override
    public void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int N, int C) {
        LayernormForwardTask task = layernormForwardTask;
        task.out = floats(out, (long) N * C, "layernormForward", "out");
        task.mean = floats(mean, N, "layernormForward", "mean");
        task.rstd = floats(rstd, N, "layernormForward", "rstd");
        task.inp = floats(inp, (long) N * C, "layernormForward", "inp");
        task.weight = floats(weight, C, "layernormForward", "weight");
        task.bias = floats(bias, C, "layernormForward", "bias");
        task.C = C;
        pool.parallelFor(task, N, rowsPerChunk(C));
    }

    private static final class LayernormForwardTask extends RangeTask {
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
                float s = (float) (1.0 / Math.sqrt(variance + LAYERNORM_EPS));
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

    @Override
    public void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                                  Tensor dout, Tensor inp, Tensor weight, Tensor mean, Tensor rstd, int N, int C) {
        LayernormBackwardTask task = layernormBackwardTask;
        task.dinp = floats(dinp, (long) N * C, "layernormBackward", "dinp");
        CpuTensor dw = floats(dweight, C, "layernormBackward", "dweight");
        CpuTensor db = floats(dbias, C, "layernormBackward", "dbias");
        task.dout = floats(dout, (long) N * C, "layernormBackward", "dout");
        task.inp = floats(inp, (long) N * C, "layernormBackward", "inp");
        task.weight = floats(weight, C, "layernormBackward", "weight");
        task.mean = floats(mean, N, "layernormBackward", "mean");
        task.rstd = floats(rstd, N, "layernormBackward", "rstd");
        task.C = C;
        pool.parallelFor(task, N, rowsPerChunk(C));
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

    private static final class LayernormBackwardTask extends RangeTask {
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

    // ---- matmul ---------------------------------------------------------------------------

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        MatmulForwardTask task = matmulForwardTask;
        task.out = floats(out, (long) N * OC, "matmulForward", "out");
        task.inp = floats(inp, (long) N * C, "matmulForward", "inp");
        task.weight = floats(weight, (long) OC * C, "matmulForward", "weight");
        task.bias = bias == null ? null : floats(bias, OC, "matmulForward", "bias");
        task.C = C;
        task.OC = OC;
        task.N = N;
        pool.parallelFor(task, task.split(OC, N, 64, pool.threads()), 1);
    }

    /**
     * A matrix product split into units of (column tile of OC, chunk of another dimension): enough units
     * to keep every thread busy, each unit writing its own outputs.
     */
    private abstract static class TiledTask extends RangeTask {
        int outputTile, outputTiles, chunk;

        /** Sets the tiles of OC and the chunks (multiples of 4, at least minimumChunk) of length; returns the units. */
        int split(int OC, int length, int minimumChunk, int threads) {
            outputTile = Matmul.outputTile(OC);
            outputTiles = (OC + outputTile - 1) / outputTile;
            int chunks = Math.max(1, Math.min((length + minimumChunk - 1) / minimumChunk,
                    (4 * threads + outputTiles - 1) / outputTiles));
            chunk = roundUpTo4((length + chunks - 1) / chunks);
            return outputTiles * ((length + chunk - 1) / chunk);
        }

        int tileStart(int unit) {
            return (unit % outputTiles) * outputTile;
        }

        int chunkStart(int unit) {
            return (unit / outputTiles) * chunk;
        }
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias, one (column tile, row chunk) per index. */
    private static final class MatmulForwardTask extends TiledTask {
        CpuTensor out, inp, weight, bias;
        int N, C, OC;

        @Override
        public void run(int start, int end) {
            for (int unit = start; unit < end; unit++) {
                int o0 = tileStart(unit);
                int n0 = chunkStart(unit);
                Matmul.forward(out, inp, weight, bias, C, OC, o0, Math.min(outputTile, OC - o0),
                        n0, Math.min(N, n0 + chunk));
            }
        }
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                               Tensor dout, Tensor inp, Tensor weight, int N, int C, int OC) {
        CpuTensor d = floats(dout, (long) N * OC, "matmulBackward", "dout");
        MatmulBackwardInputTask inputTask = matmulBackwardInputTask;
        inputTask.dinp = floats(dinp, (long) N * C, "matmulBackward", "dinp");
        inputTask.dout = d;
        inputTask.weight = floats(weight, (long) OC * C, "matmulBackward", "weight");
        inputTask.C = C;
        inputTask.OC = OC;
        pool.parallelFor(inputTask, N, roundUpTo4((N + 4 * pool.threads() - 1) / (4 * pool.threads())));
        MatmulBackwardWeightTask weightTask = matmulBackwardWeightTask;
        weightTask.dweight = floats(dweight, (long) OC * C, "matmulBackward", "dweight");
        weightTask.dbias = dbias == null ? null : floats(dbias, OC, "matmulBackward", "dbias");
        weightTask.dout = d;
        weightTask.inp = floats(inp, (long) N * C, "matmulBackward", "inp");
        weightTask.N = N;
        weightTask.C = C;
        weightTask.OC = OC;
        pool.parallelFor(weightTask, weightTask.split(OC, C, 32, pool.threads()), 1);
    }

    /** dinp (N, C) += dout (N, OC) · weight (OC, C), over rows n. */
    private static final class MatmulBackwardInputTask extends RangeTask {
        CpuTensor dinp, dout, weight;
        int C, OC;

        @Override
        public void run(int start, int end) {
            Matmul.backwardInput(dinp, dout, weight, C, OC, start, end);
        }
    }

    /**
     * dweight (OC, C) += dout (N, OC)ᵀ · inp (N, C); dbias (OC) += column sums of dout;
     * one (column tile, channel chunk) per index.
     */
    private static final class MatmulBackwardWeightTask extends TiledTask {
        CpuTensor dweight, dbias, dout, inp;
        int N, C, OC;

        @Override
        public void run(int start, int end) {
            for (int unit = start; unit < end; unit++) {
                int o0 = tileStart(unit);
                int c0 = chunkStart(unit);
                Matmul.backwardWeight(dweight, dbias, dout, inp, N, C, OC, o0, Math.min(outputTile, OC - o0),
                        c0, Math.min(C, c0 + chunk));
            }
        }
    }

    private static int roundUpTo4(int n) {
        return Math.max(4, (n + 3) & ~3);
    }

    // ---- attention ------------------------------------------------------------------------

    @Override
    public long attentionStatisticsSize(int B, int T, int NH) {
        return (long) B * NH * T * T;
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH) {
        AttentionForwardTask task = attentionForwardTask;
        task.out = floats(out, (long) B * T * C, "attentionForward", "out");
        task.att = floats(stats, attentionStatisticsSize(B, T, NH), "attentionForward", "stats");
        task.qkv = floats(qkv, (long) B * T * 3 * C, "attentionForward", "qkv");
        task.T = T;
        task.C = C;
        task.NH = NH;
        pool.parallelFor(task, B * NH, 1);
    }

    /** One (b, h) pair per index. */
    private static final class AttentionForwardTask extends RangeTask {
        CpuTensor out, att, qkv;
        int T, C, NH;

        @Override
        public void run(int start, int end) {
            for (int bh = start; bh < end; bh++) {
                Attention.forward(out, att, qkv, bh / NH, bh % NH, T, C, NH);
            }
        }
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats,
                                  int B, int T, int C, int NH) {
        AttentionBackwardTask task = attentionBackwardTask;
        task.dqkv = floats(dqkv, (long) B * T * 3 * C, "attentionBackward", "dqkv");
        task.dout = floats(dout, (long) B * T * C, "attentionBackward", "dout");
        task.qkv = floats(qkv, (long) B * T * 3 * C, "attentionBackward", "qkv");
        task.out = floats(out, (long) B * T * C, "attentionBackward", "out");
        task.att = floats(stats, attentionStatisticsSize(B, T, NH), "attentionBackward", "stats");
        task.T = T;
        task.C = C;
        task.NH = NH;
        pool.parallelFor(task, B * NH, 1);
    }

    /** One (b, h) pair per index. */
    private static final class AttentionBackwardTask extends RangeTask {
        CpuTensor dqkv, dout, qkv, out, att;
        int T, C, NH;

        @Override
        public void run(int start, int end) {
            for (int bh = start; bh < end; bh++) {
                Attention.backward(dqkv, dout, qkv, out, att, bh / NH, bh % NH, T, C, NH);
            }
        }
    }

    // ---- gelu, residual -------------------------------------------------------------------

    @Override
    public void geluForward(Tensor out, Tensor inp, int N) {
        GeluTask task = geluTask;
        task.backward = false;
        task.out = floats(out, N, "geluForward", "out");
        task.inp = floats(inp, N, "geluForward", "inp");
        pool.parallelFor(task, N, 8 * Pointwise.BLOCK);
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        GeluTask task = geluTask;
        task.backward = true;
        task.out = floats(dinp, N, "geluBackward", "dinp");
        task.dout = floats(dout, N, "geluBackward", "dout");
        task.inp = floats(inp, N, "geluBackward", "inp");
        pool.parallelFor(task, N, 8 * Pointwise.BLOCK);
    }

    /** gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); backward accumulates into out (dinp). */
    private static final class GeluTask extends RangeTask {
        boolean backward;
        CpuTensor out, dout, inp;

        @Override
        public void run(int start, int end) {
            if (backward) {
                Pointwise.geluBackward(out, dout, inp, start, end);
            } else {
                Pointwise.geluForward(out, inp, start, end);
            }
        }
    }

    @Override
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        CpuTensor o = floats(out, N, "residualForward", "out");
        CpuTensor a = floats(inp1, N, "residualForward", "inp1");
        CpuTensor b = floats(inp2, N, "residualForward", "inp2");
        for (int i = 0; i < N; i++) {
            o.array[o.offset + i] = a.array[a.offset + i] + b.array[b.offset + i];
        }
    }

    @Override
    public void residualBackward(Tensor dinp1, Tensor dinp2, Tensor dout, int N) {
        CpuTensor d1 = floats(dinp1, N, "residualBackward", "dinp1");
        CpuTensor d2 = floats(dinp2, N, "residualBackward", "dinp2");
        CpuTensor d = floats(dout, N, "residualBackward", "dout");
        for (int i = 0; i < N; i++) {
            float g = d.array[d.offset + i];
            d1.array[d1.offset + i] += g;
            d2.array[d2.offset + i] += g;
        }
    }

    // ---- loss -----------------------------------------------------------------------------

    @Override
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        if (V > Vp) {
            throw new IllegalArgumentException("softmaxCrossEntropy: V (" + V + ") exceeds the padded vocabulary Vp ("
                    + Vp + ")");
        }
        SoftmaxCrossEntropyTask task = softmaxCrossEntropyTask;
        task.losses = floats(losses, N, "softmaxCrossEntropy", "losses");
        task.correct = floats(correct, N, "softmaxCrossEntropy", "correct");
        task.dlogits = backward ? floats(dlogits, (long) N * Vp, "softmaxCrossEntropy", "dlogits") : null;
        task.logits = floats(logits, (long) N * Vp, "softmaxCrossEntropy", "logits");
        task.targets = ints(targets, N, "softmaxCrossEntropy", "targets");
        task.dlossScale = dlossScale;
        task.V = V;
        task.Vp = Vp;
        pool.parallelFor(task, N, rowsPerChunk(Vp));
    }

    /** One position per index: loss, correctness and (when backward) the logits' gradient, in place if asked. */
    private static final class SoftmaxCrossEntropyTask extends RangeTask {
        CpuTensor losses, correct, dlogits, logits;
        CpuIntTensor targets;
        float dlossScale;
        int V, Vp;

        @Override
        public void run(int start, int end) {
            for (int n = start; n < end; n++) {
                int target = targets.array[targets.offset + n];
                if (target < 0 || target >= V) {
                    throw new IllegalArgumentException("softmaxCrossEntropy: target id " + target + " at position "
                            + n + " is outside the vocabulary of " + V + " ids");
                }
                Pointwise.crossEntropyRow(losses, correct, dlogits, logits, n, target, dlossScale, V, Vp);
            }
        }
    }

    // ---- reductions and the optimizer -----------------------------------------------------

    @Override
    public void mean(Tensor out, Tensor inp, long n) {
        CpuTensor o = floats(out, 1, "mean", "out");
        CpuTensor x = floats(inp, n, "mean", "inp");
        double sum = 0.0;
        for (int i = 0; i < n; i++) {
            sum += x.array[x.offset + i];
        }
        o.array[o.offset] = (float) (sum / n);
    }

    @Override
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

    @Override
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

    // ---- generation -----------------------------------------------------------------------

    @Override
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
     * {@inheritDoc}
     *
     * <p>Exactly: greedy is the first id of the largest logit. Otherwise the kept ids are those of the topK
     * largest logits (ties at the k-th value kept in increasing id order); the draw walks the kept ids in
     * increasing order, accumulating exp((logit - max) / temperature) in double, and returns the first id
     * whose running sum exceeds coin times the total (the last kept id if rounding leaves none).
     */
    @Override
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

    @Override
    public void close() {
        pool.close();
    }

    /** Rows per chunk so that a chunk holds about 64K multiply-adds of {@code workPerRow} each: enough to pay for a hand-off. */
    private static int rowsPerChunk(long workPerRow) {
        return (int) Math.max(1, Math.min(1 << 20, (1 << 16) / Math.max(1, workPerRow)));
    }
}
