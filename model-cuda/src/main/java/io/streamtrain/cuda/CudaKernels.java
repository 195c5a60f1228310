package io.streamtrain.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemsetD32;

import io.streamtrain.cuda.internal.AttentionLauncher;
import io.streamtrain.cuda.internal.Bf16Shadows;
import io.streamtrain.cuda.internal.CudaTensor;
import io.streamtrain.cuda.internal.DevicePointer;
import io.streamtrain.cuda.internal.DeviceSetup;
import io.streamtrain.cuda.internal.Driver;
import io.streamtrain.cuda.internal.Grid;
import io.streamtrain.cuda.internal.KernelProfiler;
import io.streamtrain.cuda.internal.Launchers;
import io.streamtrain.cuda.internal.MatmulLauncher;
import io.streamtrain.cuda.internal.PinnedStaging;
import io.streamtrain.cuda.internal.StepGraphPolicy;
import io.streamtrain.cuda.internal.TensorChecks;
import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@link Kernels} on an NVIDIA GPU (compute capability 8.0 or newer) through the CUDA driver API.
 *
 * <p>This class is the front: device memory, the context, and one call per kernel into the launcher of its family
 * (in the internal package, one per CUDA C file under {@code model-cuda/src/main/cuda}, named after it:
 * {@code EncoderLauncher} for {@code encoder.cu}, {@code MatmulLauncher} for {@code matmul.cu}, and so on; the
 * families are listed once, in {@code KernelFamily}). Everything is set up once in {@link #open}
 * ({@code DeviceSetup}): the device's primary context, one stream, the PTX modules and their kernel handles,
 * pinned host staging. Every kernel is
 * enqueued on the one stream and returns at once; arguments are packed without allocating, so a training
 * step allocates nothing on the device or the JVM heap. {@link #read} and {@link #readInts} are the only
 * calls that wait for the GPU; {@link #hostSynchronizations} counts the waits.
 *
 * <p>Precision: matrix products and the products inside attention (head sizes up to 64) run on tensor cores with
 * bf16 operands and fp32 accumulation, as PyTorch autocast does; everything else is fp32. The products read bf16
 * copies that their operands' producers write along with the fp32 tensors (layernorm, GELU, the dlogits, AdamW's
 * parameters; see {@code Bf16Shadows}), or that are converted once after each write: every call here marks the copies
 * of its outputs stale before it is enqueued.
 *
 * <p>Step graphs ({@link #captureStep}): the first call of a key runs its kernels directly (scratch buffers and bf16
 * copies grow then), the second captures them as a CUDA graph, later ones replay it with one launch, after checking every kernel
 * call against the graph and updating the arguments that changed (see {@code StepGraphPolicy} and {@code StepGraph}).
 * On by default; {@code -D}{@value #GRAPHS_PROPERTY}{@code =false} or {@link #stepGraphs(boolean)} turns them off,
 * and while kernels are profiled steps run directly.
 *
 * <p>Not thread-safe: one caller at a time, from any thread. {@link #startKernelProfile} times every kernel for
 * benchmarks; {@link #pipelinedMatmulThreshold} moves the size from which products convert their operands to
 * bf16 first (for tests).
 */
public final class CudaKernels implements Kernels {
    /** Multiply-adds from which a matrix product takes the pipelined bf16 path (the conversions pay off). */
    public static final long DEFAULT_PIPELINED_MATMUL_THRESHOLD = MatmulLauncher.DEFAULT_PIPELINED_THRESHOLD;
    /** The system property that turns step graphs off ({@code false}) or on ({@code true}, the default). */
    public static final String GRAPHS_PROPERTY = StepGraphPolicy.PROPERTY;
    /** The system property that turns the wgmma matrix products of cc 9.0 off ({@code false}; on by default). */
    public static final String WGMMA_PROPERTY = MatmulLauncher.WGMMA_PROPERTY;

    private final CudaDevice device;
    private final DeviceSetup setup;
    private final PinnedStaging staging;
    private final TensorChecks args = new TensorChecks(this);
    private final StepGraphPolicy stepGraphs;
    private final Launchers launchers;
    private final Bf16Shadows shadows;
    /** Runs a step's calls from the bf16 copies' validity at its start, however often step graphs run them. */
    private final StepRun stepRun = new StepRun();
    private final List<DevicePointer> allocations = new ArrayList<>();
    private long allocatedBytes;
    private boolean closed;
    private KernelProfiler profiler;

    private CudaKernels(CudaDevice device) {
        boolean graphs = StepGraphPolicy.enabledByProperty();
        this.device = device;
        this.setup = new DeviceSetup(device.ordinal(), device.computeMajor(), device.computeMinor());
        this.staging = setup.staging();
        this.stepGraphs = new StepGraphPolicy(setup.launcher(), setup.stream(), graphs);
        this.launchers = Launchers.create(setup.modules(), setup.launcher(), args, new Grid(device.multiprocessors(), setup.sharedBytesPerBlock()),
                size -> (CudaTensor) allocate(size), size -> allocateElements(size, false, true));
        this.shadows = launchers.shadows();
    }

    /**
     * Opens device {@code ordinal}; fails at once with {@link CudaUnavailableException} saying why when the
     * device cannot be used (no driver, no device, compute capability under 8.0).
     */
    public static CudaKernels open(int ordinal) {
        CudaDevice device = CudaDevice.probe(ordinal);
        if (!device.available()) {
            throw new CudaUnavailableException("cannot open the CUDA backend: " + device.reason());
        }
        return new CudaKernels(device);
    }

    /** Opens device 0. */
    public static CudaKernels open() {
        return open(0);
    }

    /** The device these kernels run on. */
    public CudaDevice device() {
        return device;
    }

    /** Times the host has waited for the GPU so far (each {@link #read}/{@link #readInts}, and stalled writes). */
    public long hostSynchronizations() {
        return staging.synchronizations();
    }

    /** Host-to-device copies enqueued so far ({@link #write} and {@link #writeInts}: one per 4 MiB chunk). */
    public long hostToDeviceCopies() {
        return staging.hostToDeviceCopies();
    }

    /**
     * Starts timing every kernel with CUDA events (for benchmarks: it allocates, and adds work to the stream);
     * {@link #kernelProfile} reports and resets.
     */
    public void startKernelProfile() {
        enter();
        if (profiler == null) {
            profiler = new KernelProfiler(setup.stream());
        }
        setup.launcher().profile(profiler);
    }

    /** Stops timing; milliseconds per kernel and grid since {@link #startKernelProfile}, over {@code steps}. */
    public String kernelProfile(int steps) {
        enter();
        setup.launcher().profile(null);
        return profiler == null ? "not profiled" : profiler.report(steps);
    }

    /** Turns step graphs on or off (for comparisons; on by default, see {@link #GRAPHS_PROPERTY}). */
    public void stepGraphs(boolean enabled) {
        stepGraphs.enabled(enabled);
    }

    /** Whether {@link #captureStep} uses graphs. */
    public boolean stepGraphs() {
        return stepGraphs.enabled();
    }

    /** Step graphs launched so far (captures and replays). */
    public long stepGraphLaunches() {
        return stepGraphs.launches();
    }

    /**
     * Step graphs built so far: one per (B, T) key, at its second step, plus one each time a step's kernel calls
     * changed beyond their arguments (a bf16 copy that a product learned to write).
     */
    public long stepGraphCaptures() {
        return stepGraphs.captures();
    }

    /** Kernel arguments that replays have written into step graphs so far (AdamW's, once per step). */
    public long stepGraphArgumentUpdates() {
        return stepGraphs.updatedArguments();
    }

    @Override
    public void captureStep(long key, Runnable enqueue) {
        enter();
        shadows.save();
        stepRun.body = enqueue;
        try {
            stepGraphs.run(key, stepRun);
        } finally {
            stepRun.body = null;
        }
    }

    /** One run of a step's calls (a field, so that a step allocates nothing): the bf16 copies' validity restored first. */
    private final class StepRun implements Runnable {
        private Runnable body;

        @Override
        public void run() {
            shadows.restore();
            body.run();
        }
    }

    /** Bytes of device memory the bf16 copies of the products' operands take (part of {@link #allocatedBytes}). */
    public long bf16CopyBytes() {
        return shadows.bytes();
    }

    /**
     * Multiply-adds from which matrix products take the pipelined path (operands converted to bf16 first, tiles
     * streamed with cp.async), where C and OC are multiples of 8; {@link #DEFAULT_PIPELINED_MATMUL_THRESHOLD} by
     * default, 0 to take it whenever possible (for tests), {@code Long.MAX_VALUE} never. Same precision either way.
     */
    public void pipelinedMatmulThreshold(long multiplyAdds) {
        launchers.matmul().pipelinedMatmulThreshold(multiplyAdds);
    }

    /**
     * Turns the wgmma products (cc 9.0 only) on or off (for comparisons and tests; on by default, see
     * {@link #WGMMA_PROPERTY}); off, the pipelined products take the compute_80 kernels.
     */
    public void hopperMatmul(boolean enabled) {
        launchers.matmul().hopperMatmul(enabled);
    }

    /** Whether the pipelined products run on the wgmma kernels (a cc 9.0 device, not turned off). */
    public boolean hopperMatmul() {
        return launchers.matmul().hopperMatmul();
    }

    /**
     * Takes the wgmma block tile {@code name} for every product (e.g. {@code 128x128s4w1}; {@code auto}: the default);
     * for tests and benchmarks. Fails where there are no wgmma products.
     */
    public void hopperMatmulTile(String name) {
        launchers.matmul().hopperMatmulTile(name, device.describe());
    }

    /** The wgmma block tiles (empty where there are none). */
    public List<String> hopperMatmulTiles() {
        return launchers.matmul().hopperMatmulTiles();
    }

    /** The PTX modules loaded, e.g. {@code matmul.sm80.ptx}: which variant the device got. */
    public List<String> loadedModules() {
        return setup.modules().loadedVariants();
    }

    @Override
    public String backendName() {
        return "cuda";
    }

    @Override
    public String deviceName() {
        return device.name();
    }

    /** For the NCCL reducer: makes this backend's context current on the calling thread; the stream's handle. */
    long enterForCollective(String what) {
        enter();
        stepGraphs.requireOutsideStep(what);
        return setup.streamAddress();
    }

    /** For the NCCL reducer: {@code tensor} is about to be read and written by a collective (its bf16 copies are stale). */
    void writtenByCollective(Tensor tensor) {
        shadows.floatsRead(tensor);
        shadows.written(tensor);
    }

    private void enter() {
        if (closed) {
            throw new IllegalStateException("these CUDA kernels are closed");
        }
        setup.makeCurrent();
    }

    // ---- memory -------------------------------------------------------------------------

    /** {@code inStep}: the bf16 copies, made where a tensor is first seen, inside a step graph's calls too. */
    private CudaTensor allocateElements(long size, boolean ints, boolean inStep) {
        enter();
        if (!inStep) {
            stepGraphs.requireOutsideStep("allocate");
        }
        if (size < 0) {
            throw new IllegalArgumentException("cannot allocate " + size + " elements: the size must not be negative");
        }
        DevicePointer memory = new DevicePointer();
        long bytes = Math.max(4, 4 * size);
        Driver.check(cuMemAlloc(memory, bytes), "allocating " + bytes + " bytes on " + device.name());
        Driver.check(cuMemsetD32(memory, 0, Math.max(1, size)), "zero-filling a new allocation");
        allocations.add(memory);
        allocatedBytes += bytes;
        return new CudaTensor(this, memory, 0, size, ints);
    }

    @Override
    public Tensor allocate(long size) {
        return allocateElements(size, false, false);
    }

    @Override
    public IntTensor allocateInts(long size) {
        return allocateElements(size, true, false);
    }

    @Override
    public long allocatedBytes() {
        return allocatedBytes;
    }

    @Override
    public void write(Tensor dst, float[] src, int srcOffset) {
        enter();
        stepGraphs.requireOutsideStep("write");
        CudaTensor d = args.floats(dst, 0, "write", "dst");
        checkHostRange(src.length, srcOffset, d.size(), "write");
        shadows.written(d);
        staging.writeFloats(d, src, srcOffset, (int) d.size());
    }

    @Override
    public void writeInts(IntTensor dst, int[] src, int srcOffset, int count) {
        enter();
        stepGraphs.requireOutsideStep("writeInts");
        CudaTensor d = args.ints(dst, count, "writeInts", "dst");
        checkHostRange(src.length, srcOffset, count, "writeInts");
        staging.writeInts(d, src, srcOffset, count);
    }

    @Override
    public void read(float[] dst, int dstOffset, Tensor src) {
        enter();
        stepGraphs.requireOutsideStep("read");
        CudaTensor s = args.floats(src, 0, "read", "src");
        checkHostRange(dst.length, dstOffset, s.size(), "read");
        shadows.floatsRead(s);
        staging.readFloats(dst, dstOffset, s, (int) s.size());
    }

    @Override
    public void readInts(int[] dst, int dstOffset, IntTensor src) {
        enter();
        stepGraphs.requireOutsideStep("readInts");
        CudaTensor s = args.ints(src, 0, "readInts", "src");
        checkHostRange(dst.length, dstOffset, s.size(), "readInts");
        staging.readInts(dst, dstOffset, s, (int) s.size());
    }

    private static void checkHostRange(int length, int offset, long count, String what) {
        if (offset < 0 || count < 0 || offset + count > length) {
            throw new IndexOutOfBoundsException(what + ": host range [" + offset + ", " + (offset + count)
                    + ") is outside an array of " + length);
        }
    }

    @Override
    public void fill(Tensor out, float value) {
        enter();
        shadows.written(out);
        launchers.adamw().fill(out, value);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        enter();
        reads(src);
        shadows.written(out);
        launchers.adamw().copy(out, src);
    }

    /**
     * Before a call reads these float32 tensors (null: none): values that a producer left in their bf16 copies alone
     * are converted back first (see {@code Bf16Shadows}); called before the call's outputs are marked written.
     */
    private void reads(Tensor a) {
        shadows.floatsRead(a);
    }

    private void reads(Tensor a, Tensor b) {
        shadows.floatsRead(a);
        shadows.floatsRead(b);
    }

    private void reads(Tensor a, Tensor b, Tensor c) {
        shadows.floatsRead(a);
        shadows.floatsRead(b);
        shadows.floatsRead(c);
    }

    // ---- the kernel families ----------------------------------------------------------------

    @Override
    public void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        enter();
        reads(wte, wpe);
        shadows.written(out);
        launchers.encoder().forward(out, tokens, wte, wpe, B, T, C);
    }

    @Override
    public void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        enter();
        reads(dout, dwte, dwpe);
        shadows.written(dwte);
        shadows.written(dwpe);
        launchers.encoder().backward(dwte, dwpe, dout, tokens, B, T, C);
    }

    @Override
    public void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int N, int C) {
        enter();
        reads(inp, weight, bias);
        shadows.written(out);
        shadows.written(mean);
        shadows.written(rstd);
        launchers.layernorm().forward(out, mean, rstd, inp, weight, bias, N, C);
    }

    @Override
    public void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        enter();
        reads(dout, inp, weight);
        reads(mean, rstd, dinp);
        reads(dweight, dbias);
        shadows.written(dinp);
        shadows.written(dweight);
        shadows.written(dbias);
        launchers.layernorm().backward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    }

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        enter();
        reads(inp, weight, bias);
        shadows.written(out);
        launchers.matmul().forward(out, inp, weight, bias, N, C, OC);
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                               int N, int C, int OC) {
        enter();
        // dout: the launcher converts copy-only values back where a product reads it as float32 (not from its copy)
        reads(inp, weight);
        reads(dweight, dbias);
        shadows.written(dinp);
        shadows.written(dweight);
        shadows.written(dbias);
        launchers.matmul().backward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }

    @Override
    public long attentionStatisticsSize(int B, int T, int NH) {
        return AttentionLauncher.statisticsSize(B, T, NH);
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH) {
        attentionForward(out, stats, qkv, B, T, C, NH, 0f, 0L);
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float dropout,
                                 long key) {
        enter();
        reads(qkv);
        shadows.written(out);
        shadows.written(stats);
        launchers.attention().forward(out, stats, qkv, B, T, C, NH, dropout, key);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                                  int NH) {
        attentionBackward(dqkv, dout, qkv, out, stats, B, T, C, NH, 0f, 0L);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                                  int NH, float dropout, long key) {
        enter();
        reads(dout, qkv, out);
        reads(stats);
        shadows.written(dqkv);
        launchers.attention().backward(dqkv, dout, qkv, out, stats, B, T, C, NH, dropout, key);
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, int N) {
        enter();
        reads(inp);
        shadows.written(out);
        launchers.geluResidual().geluForward(out, inp, N);
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        enter();
        reads(dout, inp);
        shadows.written(dinp);
        launchers.geluResidual().geluBackward(dinp, dout, inp, N);
    }

    @Override
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        enter();
        reads(inp1, inp2);
        shadows.written(out);
        launchers.geluResidual().residualForward(out, inp1, inp2, N);
    }

    @Override
    public void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        enter();
        reads(inp1, inp2);
        shadows.written(out);
        launchers.geluResidual().residualDropoutForward(out, inp1, inp2, p, key, N);
    }

    @Override
    public void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        enter();
        reads(inp);
        shadows.written(out);
        launchers.geluResidual().dropout(out, inp, p, key, N);
    }

    @Override
    public boolean supportsDropout() {
        return true;
    }

    @Override
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        enter();
        reads(logits);
        shadows.written(losses);
        shadows.written(correct);
        if (backward) {
            shadows.written(dlogits);
        }
        launchers.crossEntropy().softmaxCrossEntropy(losses, correct, dlogits, logits, targets, dlossScale, backward,
                N, V, Vp);
    }

    @Override
    public void mean(Tensor out, Tensor inp, long n) {
        enter();
        reads(inp);
        shadows.written(out);
        launchers.adamw().mean(out, inp, n);
    }

    @Override
    public void globalNorm(Tensor out, Tensor inp, long n) {
        enter();
        reads(inp);
        shadows.written(out);
        launchers.adamw().globalNorm(out, inp, n);
    }

    @Override
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        enter();
        reads(params, m, v);
        reads(grads, gradNorm);
        shadows.written(params);
        shadows.written(m);
        shadows.written(v);
        launchers.adamw().adamw(params, m, v, grads, gradNorm, n, decayedSize, learningRate, beta1, beta2, eps,
                weightDecay, maxGradNorm, step);
    }

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        enter();
        reads(q, kcache, vcache);
        shadows.written(out);
        launchers.sampling().attentionDecode(out, q, kcache, vcache, position, C, NH);
    }

    @Override
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        enter();
        reads(logits, coin);
        launchers.sampling().sample(out, logits, coin, temperature, topK, V);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        setup.synchronize();
        closed = true;
        for (DevicePointer memory : allocations) {
            cuMemFree(memory);
        }
        allocations.clear();
        if (profiler != null) {
            profiler.close();
        }
        stepGraphs.close();
        setup.close();
    }
}
