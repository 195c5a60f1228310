package io.streamtrain.model.cpu;

import static io.streamtrain.model.cpu.internal.Views.floats;
import static io.streamtrain.model.cpu.internal.Views.ints;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.Adamw;
import io.streamtrain.model.cpu.internal.Attention;
import io.streamtrain.model.cpu.internal.CpuIntTensor;
import io.streamtrain.model.cpu.internal.CpuTensor;
import io.streamtrain.model.cpu.internal.CrossEntropy;
import io.streamtrain.model.cpu.internal.Encoder;
import io.streamtrain.model.cpu.internal.GeluResidual;
import io.streamtrain.model.cpu.internal.Layernorm;
import io.streamtrain.model.cpu.internal.Matmul;
import io.streamtrain.model.cpu.internal.Sampling;
import io.streamtrain.model.cpu.internal.WorkerPool;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The CPU backend: the kernels of llm.c's {@code train_gpt2.c}, same math, as Java loops over float arrays,
 * split over a fixed pool of threads. This class is the front: memory, the worker pool, and one call per kernel
 * into its family, one file per family named after the CUDA source of the same kernels (in the internal
 * package): {@code Encoder}, {@code Layernorm}, {@code Matmul}, {@code Attention}, {@code GeluResidual},
 * {@code CrossEntropy}, {@code Adamw} (the mean, the global norm and AdamW) and {@code Sampling}. The
 * families that cost the time of a step are blocked so that HotSpot vectorizes them, on one vectorized loop
 * ({@code MicroKernel}); their comments say what each block computes. The plain-loop ground truth that this
 * backend and the CUDA one are checked against is {@code ReferenceKernels} in the model's tests.
 *
 * <p>Determinism: work is split so that every output element is written by one chunk and every sum
 * runs in an order fixed by the shapes alone (reductions across chunks add fixed-size partials in
 * order), so results are the same bits with any number of threads; the compatibility test checks it.
 * Tensors are views of Java arrays and {@link #allocate} is the only place tensor memory is created.
 * Scratch arrays (per-thread tiles, norm partials, the decode scores) are sized on first use for a
 * shape and reused, so a warm training step allocates nothing.
 */
public final class CpuKernels implements Kernels {

    /** Numbers the backends of this JVM, for their thread names. */
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final WorkerPool pool;
    private long allocatedBytes;

    private final Layernorm layernorm;
    private final Matmul matmul;
    private final Attention attention;
    private final GeluResidual geluResidual;
    private final CrossEntropy crossEntropy;
    private final Adamw adamw;
    private final Sampling sampling = new Sampling();

    /** A backend on {@code threads} threads: the caller and {@code threads - 1} daemon workers. */
    public CpuKernels(int threads) {
        this.pool = new WorkerPool(threads, "streamtrain-cpu-kernels-" + INSTANCES.incrementAndGet());
        this.layernorm = new Layernorm(pool);
        this.matmul = new Matmul(pool);
        this.attention = new Attention(pool);
        this.geluResidual = new GeluResidual(pool);
        this.crossEntropy = new CrossEntropy(pool);
        this.adamw = new Adamw(pool);
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

    // ---- the kernel families ----------------------------------------------------------------

    @Override
    public void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        Encoder.forward(out, tokens, wte, wpe, B, T, C);
    }

    @Override
    public void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        Encoder.backward(dwte, dwpe, dout, tokens, B, T, C);
    }

    @Override
    public void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int N, int C) {
        layernorm.forward(out, mean, rstd, inp, weight, bias, N, C);
    }

    @Override
    public void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                                  Tensor dout, Tensor inp, Tensor weight, Tensor mean, Tensor rstd, int N, int C) {
        layernorm.backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    }

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        matmul.forward(out, inp, weight, bias, N, C, OC);
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                               Tensor dout, Tensor inp, Tensor weight, int N, int C, int OC) {
        matmul.backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }

    @Override
    public long attentionStatisticsSize(int B, int T, int NH) {
        return Attention.statisticsSize(B, T, NH);
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH) {
        attention.forward(out, stats, qkv, B, T, C, NH, 0f, 0L);
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float dropout,
                                 long key) {
        attention.forward(out, stats, qkv, B, T, C, NH, dropout, key);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats,
                                  int B, int T, int C, int NH) {
        attention.backward(dqkv, dout, qkv, out, stats, B, T, C, NH, 0f, 0L);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats,
                                  int B, int T, int C, int NH, float dropout, long key) {
        attention.backward(dqkv, dout, qkv, out, stats, B, T, C, NH, dropout, key);
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, int N) {
        geluResidual.geluForward(out, inp, N);
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        geluResidual.geluBackward(dinp, dout, inp, N);
    }

    @Override
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        GeluResidual.residualForward(out, inp1, inp2, N);
    }

    @Override
    public void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        GeluResidual.residualDropoutForward(out, inp1, inp2, p, key, N);
    }

    @Override
    public void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        GeluResidual.dropout(out, inp, p, key, N);
    }

    @Override
    public boolean supportsDropout() {
        return true;
    }

    @Override
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        crossEntropy.softmaxCrossEntropy(losses, correct, dlogits, logits, targets, dlossScale, backward, N, V, Vp);
    }

    @Override
    public void mean(Tensor out, Tensor inp, long n) {
        Adamw.mean(out, inp, n);
    }

    @Override
    public void globalNorm(Tensor out, Tensor inp, long n) {
        adamw.globalNorm(out, inp, n);
    }

    @Override
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        adamw.adamw(params, m, v, grads, gradNorm, n, decayedSize, learningRate, beta1, beta2, eps, weightDecay,
                maxGradNorm, step);
    }

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        sampling.attentionDecode(out, q, kcache, vcache, position, C, NH);
    }

    /**
     * {@inheritDoc}
     *
     * <p>Exactly as {@code Sampling.sample} says: greedy is the first id of the largest logit; otherwise the
     * topK largest logits (ties at the k-th value kept in increasing id order), drawn by walking the kept ids in
     * increasing order with exp((logit - max) / temperature) summed in double.
     */
    @Override
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        sampling.sample(out, logits, coin, temperature, topK, V);
    }

    @Override
    public void close() {
        pool.close();
    }
}
