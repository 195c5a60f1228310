package io.streamtrain.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxReset;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemsetD32;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;

import io.streamtrain.cuda.internal.CudaTensor;
import io.streamtrain.cuda.internal.DevicePointer;
import io.streamtrain.cuda.internal.Driver;
import io.streamtrain.cuda.internal.KernelProfiler;
import io.streamtrain.cuda.internal.Launcher;
import io.streamtrain.cuda.internal.PinnedStaging;
import io.streamtrain.cuda.internal.PtxModules;
import io.streamtrain.cuda.internal.StepGraph;
import io.streamtrain.cuda.internal.StreamHandle;
import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * The {@link Kernels} on an NVIDIA GPU (compute capability 8.0 or newer) through the CUDA driver API.
 *
 * <p>Everything is set up once in {@link #open}: the device's primary context, one stream, the PTX modules
 * (see {@code model-cuda/src/main/cuda}) and their kernel handles, pinned host staging. Every kernel is
 * enqueued on the one stream and returns at once; arguments are packed without allocating, so a training
 * step allocates nothing on the device or the JVM heap. {@link #read} and {@link #readInts} are the only
 * calls that wait for the GPU; {@link #hostSynchronizations} counts the waits.
 *
 * <p>Precision: matrix products and the products inside attention (head sizes up to 64) run on tensor cores with
 * bf16 operands and fp32 accumulation, as PyTorch autocast does; everything else is fp32.
 *
 * <p>Step graphs ({@link #captureStep}): the first call of a key runs its kernels directly (scratch buffers grow
 * then), the second captures them as a CUDA graph, later ones replay it with one launch, after checking every kernel
 * call against the graph and updating the arguments that changed (see {@code StepGraph}).
 * On by default; {@code -D}{@value #GRAPHS_PROPERTY}{@code =false} or {@link #stepGraphs(boolean)} turns them off,
 * and while kernels are profiled steps run directly.
 *
 * <p>Not thread-safe: one caller at a time, from any thread. {@link #startKernelProfile} times every kernel for
 * benchmarks; {@link #pipelinedMatmulThreshold} moves the size from which products convert their operands to
 * bf16 first (for tests).
 */
public final class CudaKernels implements Kernels {
    private static final ThreadLocal<CUcontext> CURRENT = new ThreadLocal<>();
    private static final int MATMUL_TILE = 128;
    private static final int MATMUL_TILE_K = 32;  // the depth of the fp32 path's tiles; K splits are multiples of it
    private static final int MATMUL_THREADS = 256;
    private static final int ELEMENTWISE_THREADS = 256;
    private static final int NORM_PARTIALS = 1024;
    /** Multiply-adds from which a matrix product takes the pipelined bf16 path (the conversions pay off). */
    public static final long DEFAULT_PIPELINED_MATMUL_THRESHOLD = 1L << 30;
    private static final int MATMUL_PIPELINED_SHARED_BYTES = 112 * 1024;
    /** The system property that turns step graphs off ({@code false}) or on ({@code true}, the default). */
    public static final String GRAPHS_PROPERTY = "streamtrain.cuda.graphs";

    /** The three pipelined products of one block tile (rows x columns x depth), thread count and stage count. */
    private record PipelinedMatmul(CUfunction forward, CUfunction backwardInput, CUfunction backwardWeight,
                                   int tileRows, int tileColumns, int depth, int threads, int stages) {
    }

    private final CudaDevice device;
    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final StreamHandle stream = new StreamHandle();
    private final PtxModules modules;
    private final Launcher launcher;
    private final PinnedStaging staging;
    private final List<DevicePointer> allocations = new ArrayList<>();
    private final CudaTensor normPartials;
    private long allocatedBytes;
    private boolean closed;
    private KernelProfiler profiler;
    private boolean stepGraphs = graphsProperty();
    /** The step graphs by key (few: one per (B, T) a model trains on), searched in order: no boxing per step. */
    private final List<StepGraph> graphs = new ArrayList<>();
    private long stepGraphLaunches;

    private final CUfunction encoderForward, encoderBackwardWpe, encoderBackwardWte;
    private final CUfunction layernormForward, layernormBackward, layernormBackwardNarrow;
    private final CUfunction matmulForward, matmulBackwardInput, matmulBackwardWeight, matmulBackwardBias;
    private final CUfunction toBf16;
    /** The pipelined products: block tile 128 x 128 x 64, 8 warps, 3 stages (NOTES.md says what else was tried). */
    private final PipelinedMatmul pipelinedMatmul;
    /** bf16 copies of the operands of the pipelined matrix products: grown on first use, reused after. */
    private final CudaTensor[] bf16Scratch = new CudaTensor[5];
    private long pipelinedMatmulThreshold = DEFAULT_PIPELINED_MATMUL_THRESHOLD;
    private final CUfunction attentionForward, attentionBackwardQuery, attentionBackwardKeyValue;
    /** Tensor-core attention by padded head dim (16, 32, 64): [0] from fp32 qkv, [1] from a bf16 copy of it. */
    private final CUfunction[][] attentionForwardTc = new CUfunction[2][3];
    private final CUfunction[][] attentionBackwardQueryTc = new CUfunction[2][3];
    private final CUfunction[][] attentionBackwardKeyValueTc = new CUfunction[2][3];
    private final CUfunction attentionBackwardPreprocess;
    private final CUfunction geluForward, geluBackward, residualForward, residualBackward;
    private final CUfunction softmaxCrossEntropy;
    private final CUfunction fill, copy, mean, sumSquaresPartial, sumSquaresFinish, adamw;
    private final CUfunction attentionDecode, sample;

    private CudaKernels(CudaDevice device) {
        this.device = device;
        Driver.check(cuDeviceGet(cuDevice, device.ordinal()), "getting CUDA device " + device.ordinal());
        Driver.check(cuDevicePrimaryCtxRetain(context, cuDevice), "creating the CUDA context");
        makeCurrent();
        Driver.check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "creating a CUDA stream");
        modules = new PtxModules(device.computeMajor());
        launcher = new Launcher(stream);
        staging = new PinnedStaging(stream);
        encoderForward = modules.function("encoder", "encoder_forward");
        encoderBackwardWpe = modules.function("encoder", "encoder_backward_wpe");
        encoderBackwardWte = modules.function("encoder", "encoder_backward_wte");
        layernormForward = modules.function("layernorm", "layernorm_forward");
        layernormBackward = modules.function("layernorm", "layernorm_backward");
        layernormBackwardNarrow = modules.function("layernorm", "layernorm_backward_narrow");
        matmulForward = modules.function("matmul", "matmul_forward");
        matmulBackwardInput = modules.function("matmul", "matmul_backward_input");
        matmulBackwardWeight = modules.function("matmul", "matmul_backward_weight");
        matmulBackwardBias = modules.function("matmul", "matmul_backward_bias");
        toBf16 = modules.function("matmul", "to_bf16");
        pipelinedMatmul = new PipelinedMatmul(modules.function("matmul", "matmul_forward_bf16_128x128x64"),
                modules.function("matmul", "matmul_backward_input_bf16_128x128x64"),
                modules.function("matmul", "matmul_backward_weight_bf16_128x128x64"), 128, 128, 64, 256, 3);
        for (CUfunction f : new CUfunction[] {pipelinedMatmul.forward(), pipelinedMatmul.backwardInput(),
                pipelinedMatmul.backwardWeight()}) {
            Driver.check(cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    MATMUL_PIPELINED_SHARED_BYTES), "raising the shared memory limit of the pipelined matmul");
        }
        attentionForward = modules.function("attention", "attention_forward_4");
        attentionBackwardQuery = modules.function("attention", "attention_backward_query_4");
        attentionBackwardKeyValue = modules.function("attention", "attention_backward_key_value_4");
        for (int source = 0; source < 2; source++) {
            for (int i = 0; i < 3; i++) {
                String suffix = (source == 0 ? "tc_" : "tc_bf16_") + (16 << i);
                attentionForwardTc[source][i] = modules.function("attention", "attention_forward_" + suffix);
                attentionBackwardQueryTc[source][i] = modules.function("attention", "attention_backward_query_" + suffix);
                attentionBackwardKeyValueTc[source][i] = modules.function("attention",
                        "attention_backward_key_value_" + suffix);
            }
        }
        attentionBackwardPreprocess = modules.function("attention", "attention_backward_preprocess");
        geluForward = modules.function("gelu_residual", "gelu_forward");
        geluBackward = modules.function("gelu_residual", "gelu_backward");
        residualForward = modules.function("gelu_residual", "residual_forward");
        residualBackward = modules.function("gelu_residual", "residual_backward");
        softmaxCrossEntropy = modules.function("crossentropy", "softmax_cross_entropy");
        fill = modules.function("adamw", "fill");
        copy = modules.function("adamw", "copy");
        mean = modules.function("adamw", "mean");
        sumSquaresPartial = modules.function("adamw", "sum_squares_partial");
        sumSquaresFinish = modules.function("adamw", "sum_squares_finish");
        adamw = modules.function("adamw", "adamw");
        attentionDecode = modules.function("sampling", "attention_decode");
        sample = modules.function("sampling", "sample");
        Driver.check(cuFuncSetAttribute(layernormBackward,
                CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 96 * 1024),
                "raising the shared memory limit of layernorm_backward");
        Driver.check(cuFuncSetAttribute(layernormBackwardNarrow,
                CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 96 * 1024),
                "raising the shared memory limit of layernorm_backward_narrow");
        normPartials = (CudaTensor) allocate(NORM_PARTIALS);
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

    /**
     * Starts timing every kernel with CUDA events (for benchmarks: it allocates, and adds work to the stream);
     * {@link #kernelProfile} reports and resets.
     */
    public void startKernelProfile() {
        enter();
        if (profiler == null) {
            profiler = new KernelProfiler(stream);
        }
        launcher.profile(profiler);
    }

    /** Stops timing and returns milliseconds per kernel and grid since {@link #startKernelProfile}, over {@code steps}. */
    public String kernelProfile(int steps) {
        enter();
        launcher.profile(null);
        return profiler == null ? "not profiled" : profiler.report(steps);
    }

    private static boolean graphsProperty() {
        String value = System.getProperty(GRAPHS_PROPERTY, "true").trim();
        if (!value.equals("true") && !value.equals("false")) {
            throw new IllegalArgumentException("-D" + GRAPHS_PROPERTY + "=" + value + " must be true or false");
        }
        return value.equals("true");
    }

    /** Turns step graphs on or off (for comparisons; on by default, see {@link #GRAPHS_PROPERTY}). */
    public void stepGraphs(boolean enabled) {
        this.stepGraphs = enabled;
    }

    /** Whether {@link #captureStep} uses graphs. */
    public boolean stepGraphs() {
        return stepGraphs;
    }

    /** Step graphs launched so far (captures and replays). */
    public long stepGraphLaunches() {
        return stepGraphLaunches;
    }

    /** Kernel arguments that replays have written into step graphs so far (AdamW's, once per step). */
    public long stepGraphArgumentUpdates() {
        long updates = 0;
        for (StepGraph graph : graphs) {
            updates += graph.updatedArguments();
        }
        return updates;
    }

    @Override
    public void captureStep(long key, Runnable enqueue) {
        enter();
        if (launcher.inStepGraph()) {
            throw new IllegalStateException("captureStep inside captureStep: step graphs do not nest");
        }
        if (!stepGraphs || launcher.profiling()) {
            enqueue.run();
            return;
        }
        StepGraph graph = stepGraph(key);
        if (graph == null) {
            enqueue.run(); // the first call of a key runs directly: the scratch buffers it needs are allocated now
            graphs.add(new StepGraph(key, stream));
            return;
        }
        if (graph.captured()) {
            launcher.replay(graph);
            try {
                enqueue.run();
            } finally {
                launcher.direct();
            }
            if (!graph.endReplay()) {
                graph.close(); // the calls changed beyond arguments: capture them again
                capture(graph, enqueue);
            }
        } else {
            capture(graph, enqueue);
        }
        graph.launch();
        stepGraphLaunches++;
    }

    private StepGraph stepGraph(long key) {
        for (int i = 0; i < graphs.size(); i++) {
            if (graphs.get(i).key() == key) {
                return graphs.get(i);
            }
        }
        return null;
    }

    /** Runs {@code enqueue} with its launches added to {@code graph} instead of made, then instantiates it. */
    private void capture(StepGraph graph, Runnable enqueue) {
        launcher.capture(graph);
        boolean enqueued = false;
        try {
            enqueue.run();
            enqueued = true;
        } finally {
            launcher.direct();
            if (!enqueued) {
                graph.close();
            }
        }
        graph.instantiate();
    }

    /** Rejects a call that is not a kernel launch while a step graph is captured or replayed. */
    private void notInStepGraph(String what) {
        if (launcher.inStepGraph()) {
            throw new IllegalStateException(what + " inside captureStep: a step body may only call kernels "
                    + "(see Kernels.captureStep); move it before or after the captured step");
        }
    }

    /** The PTX modules loaded, e.g. {@code matmul.sm80.ptx}: which variant the device got. */
    public List<String> loadedModules() {
        return modules.loadedVariants();
    }

    @Override
    public String backendName() {
        return "cuda";
    }

    @Override
    public String deviceName() {
        return device.name();
    }

    private void makeCurrent() {
        if (CURRENT.get() != context) {
            Driver.check(cuCtxSetCurrent(context), "making the CUDA context current");
            CURRENT.set(context);
        }
    }

    /** For the NCCL reducer: makes this backend's context current on the calling thread; the stream's handle. */
    long enterForCollective(String what) {
        enter();
        notInStepGraph(what);
        return stream.address();
    }

    private void enter() {
        if (closed) {
            throw new IllegalStateException("these CUDA kernels are closed");
        }
        makeCurrent();
    }

    // ---- memory -------------------------------------------------------------------------

    private CudaTensor allocateElements(long size, boolean ints) {
        enter();
        notInStepGraph("allocate");
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
        return allocateElements(size, false);
    }

    @Override
    public IntTensor allocateInts(long size) {
        return allocateElements(size, true);
    }

    @Override
    public long allocatedBytes() {
        return allocatedBytes;
    }

    @Override
    public void write(Tensor dst, float[] src, int srcOffset) {
        enter();
        notInStepGraph("write");
        CudaTensor d = floats(dst, 0, "write", "dst");
        checkHostRange(src.length, srcOffset, d.size(), "write");
        staging.writeFloats(d, src, srcOffset, (int) d.size());
    }

    @Override
    public void writeInts(IntTensor dst, int[] src, int srcOffset, int count) {
        enter();
        notInStepGraph("writeInts");
        CudaTensor d = ints(dst, count, "writeInts", "dst");
        checkHostRange(src.length, srcOffset, count, "writeInts");
        staging.writeInts(d, src, srcOffset, count);
    }

    @Override
    public void read(float[] dst, int dstOffset, Tensor src) {
        enter();
        notInStepGraph("read");
        CudaTensor s = floats(src, 0, "read", "src");
        checkHostRange(dst.length, dstOffset, s.size(), "read");
        staging.readFloats(dst, dstOffset, s, (int) s.size());
    }

    @Override
    public void readInts(int[] dst, int dstOffset, IntTensor src) {
        enter();
        notInStepGraph("readInts");
        CudaTensor s = ints(src, 0, "readInts", "src");
        checkHostRange(dst.length, dstOffset, s.size(), "readInts");
        staging.readInts(dst, dstOffset, s, (int) s.size());
    }

    @Override
    public void fill(Tensor out, float value) {
        enter();
        CudaTensor o = floats(out, 0, "fill", "out");
        long n = o.size();
        if (n == 0) {
            return;
        }
        launcher.begin().pointer(o).float32(value).int64(n)
                .launch(fill, "fill", gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    @Override
    public void copy(Tensor out, Tensor src) {
        enter();
        CudaTensor o = floats(out, 0, "copy", "out");
        CudaTensor s = floats(src, o.size(), "copy", "src");
        long n = o.size();
        if (n == 0) {
            return;
        }
        launcher.begin().pointer(o).pointer(s).int64(n)
                .launch(copy, "copy", gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    // ---- forward / backward pairs ---------------------------------------------------------

    @Override
    public void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        enter();
        long n = (long) B * T * C;
        launcher.begin().pointer(floats(out, n, "encoderForward", "out")).pointer(ints(tokens, (long) B * T,
                        "encoderForward", "tokens")).pointer(floats(wte, C, "encoderForward", "wte"))
                .pointer(floats(wpe, (long) T * C, "encoderForward", "wpe")).int32(B).int32(T).int32(C)
                .launch(encoderForward, "encoder_forward", blocks(n, ELEMENTWISE_THREADS), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    @Override
    public void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        enter();
        long n = (long) B * T * C;
        CudaTensor gradOut = floats(dout, n, "encoderBackward", "dout");
        launcher.begin().pointer(floats(dwpe, (long) T * C, "encoderBackward", "dwpe")).pointer(gradOut)
                .int32(B).int32(T).int32(C)
                .launch(encoderBackwardWpe, "encoder_backward_wpe", blocks((long) T * C, ELEMENTWISE_THREADS), 1, 1,
                        ELEMENTWISE_THREADS, 1, 0);
        launcher.begin().pointer(floats(dwte, C, "encoderBackward", "dwte")).pointer(gradOut)
                .pointer(ints(tokens, (long) B * T, "encoderBackward", "tokens")).int32(B).int32(T).int32(C)
                .launch(encoderBackwardWte, "encoder_backward_wte", blocks(n, ELEMENTWISE_THREADS), 1, 1,
                        ELEMENTWISE_THREADS, 1, 0);
    }

    @Override
    public void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias,
                                 int N, int C) {
        enter();
        long n = (long) N * C;
        launcher.begin().pointer(floats(out, n, "layernormForward", "out"))
                .pointer(floats(mean, N, "layernormForward", "mean")).pointer(floats(rstd, N, "layernormForward", "rstd"))
                .pointer(floats(inp, n, "layernormForward", "inp")).pointer(floats(weight, C, "layernormForward", "weight"))
                .pointer(floats(bias, C, "layernormForward", "bias")).int32(N).int32(C)
                .launch(layernormForward, "layernorm_forward", blocks(N, 8), 1, 1, 256, 1, 0);
    }

    @Override
    public void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                                  Tensor mean, Tensor rstd, int N, int C) {
        enter();
        long n = (long) N * C;
        int shared = 2 * 4 * C;
        if (shared > 96 * 1024) {
            throw new IllegalArgumentException("layernormBackward: C = " + C + " is over the 12288 channels this "
                    + "kernel supports");
        }
        int grid = Math.max(1, Math.min(blocks(N, 8), 2 * device.multiprocessors()));
        launcher.begin().pointer(floats(dinp, n, "layernormBackward", "dinp"))
                .pointer(floats(dweight, C, "layernormBackward", "dweight"))
                .pointer(floats(dbias, C, "layernormBackward", "dbias"))
                .pointer(floats(dout, n, "layernormBackward", "dout")).pointer(floats(inp, n, "layernormBackward", "inp"))
                .pointer(floats(weight, C, "layernormBackward", "weight"))
                .pointer(floats(mean, N, "layernormBackward", "mean")).pointer(floats(rstd, N, "layernormBackward", "rstd"))
                .int32(N).int32(C)
                .launch(C <= 1024 ? layernormBackwardNarrow : layernormBackward, "layernorm_backward", grid, 1, 1, 256, 1,
                        shared);
    }

    @Override
    public void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC) {
        enter();
        CudaTensor output = floats(out, (long) N * OC, "matmulForward", "out");
        CudaTensor input = floats(inp, (long) N * C, "matmulForward", "inp");
        CudaTensor weights = floats(weight, (long) OC * C, "matmulForward", "weight");
        CudaTensor biases = bias == null ? null : floats(bias, OC, "matmulForward", "bias");
        if (pipelined(N, C, OC, input, weights, output)) {
            PipelinedMatmul p = pipelinedMatmul;
            CudaTensor inputBf16 = toBf16(0, input, (long) N * C);
            CudaTensor weightBf16 = toBf16(1, weights, (long) OC * C);
            launcher.begin().pointer(output).pointer(inputBf16).pointer(weightBf16).pointer(biases)
                    .int32(N).int32(OC).int32(C)
                    .launch(p.forward(), "matmul_forward_bf16", blocks(OC, p.tileColumns()), blocks(N, p.tileRows()), 1,
                            p.threads(), 1, pipelinedSharedBytes(p, true, true));
            return;
        }
        launcher.begin().pointer(output).pointer(input).pointer(weights).pointer(biases)
                .int32(N).int32(OC).int32(C)
                .launch(matmulForward, "matmul_forward", tiles(OC), tiles(N), 1, MATMUL_THREADS, 1, 0);
    }

    /**
     * Multiply-adds from which matrix products take the pipelined path (operands converted to bf16 first, tiles
     * streamed with cp.async), where C and OC are multiples of 8; {@link #DEFAULT_PIPELINED_MATMUL_THRESHOLD} by
     * default, 0 to take it whenever possible (for tests), {@code Long.MAX_VALUE} never. Same precision either way.
     */
    public void pipelinedMatmulThreshold(long multiplyAdds) {
        this.pipelinedMatmulThreshold = multiplyAdds;
    }

    private boolean pipelined(int N, int C, int OC, CudaTensor a, CudaTensor b, CudaTensor c) {
        // the conversion reads 16 bytes at a time, the products store 8: operands and outputs must be aligned
        return C % 8 == 0 && OC % 8 == 0 && (double) N * C * OC >= pipelinedMatmulThreshold
                && ((a.address() | b.address() | c.address()) & 15) == 0;
    }

    /** src (n floats) converted to bf16 into scratch buffer {@code slot}, grown (once) to fit. */
    private CudaTensor toBf16(int slot, CudaTensor src, long n) {
        long elements = (n + 1) / 2;  // the scratch is float32 memory holding 2 bf16 per element
        if (bf16Scratch[slot] == null || bf16Scratch[slot].size() < elements) {
            bf16Scratch[slot] = (CudaTensor) allocate(Math.max(elements, 1024));
        }
        CudaTensor out = bf16Scratch[slot];
        launcher.begin().pointer(out).pointer(src).int64(n)
                .launch(toBf16, "to_bf16", gridStride((n + 7) / 8), 1, 1, ELEMENTWISE_THREADS, 1, 0);
        return out;
    }

    /** Dynamic shared memory of a pipelined product: its stages of bf16 tile pairs, as StreamTile lays them out. */
    private static int pipelinedSharedBytes(PipelinedMatmul p, boolean aKContiguous, boolean bKContiguous) {
        return 2 * p.stages() * (tileElements(p.tileRows(), p.depth(), aKContiguous)
                + tileElements(p.tileColumns(), p.depth(), bKContiguous));
    }

    private static int tileElements(int rows, int depth, boolean kContiguous) {
        return kContiguous ? rows * (depth + 8) : depth * (rows + 8);
    }

    @Override
    public void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                               int N, int C, int OC) {
        enter();
        CudaTensor gradOut = floats(dout, (long) N * OC, "matmulBackward", "dout");
        CudaTensor gradInput = floats(dinp, (long) N * C, "matmulBackward", "dinp");
        CudaTensor gradWeight = floats(dweight, (long) OC * C, "matmulBackward", "dweight");
        CudaTensor input = floats(inp, (long) N * C, "matmulBackward", "inp");
        CudaTensor weights = floats(weight, (long) OC * C, "matmulBackward", "weight");
        if (pipelined(N, C, OC, gradOut, input, weights) && ((gradInput.address() | gradWeight.address()) & 7) == 0) {
            PipelinedMatmul p = pipelinedMatmul;
            // the conversions launch kernels themselves: all of them before the products' arguments are packed
            CudaTensor a = toBf16(0, gradOut, (long) N * OC);
            CudaTensor b = toBf16(1, weights, (long) OC * C);
            CudaTensor c = toBf16(2, input, (long) N * C);
            // dinp (N, C) += dout (N, OC) . weight (OC, C): M = N, columns C, K = OC
            int splitInput = kPerSplit(blocks(C, p.tileColumns()) * blocks(N, p.tileRows()), OC);
            launcher.begin().pointer(gradInput).pointer(a).pointer(b).int32(N).int32(C).int32(OC).int32(splitInput)
                    .launch(p.backwardInput(), "matmul_backward_input_bf16", blocks(C, p.tileColumns()),
                            blocks(N, p.tileRows()), splits(OC, splitInput), p.threads(), 1,
                            pipelinedSharedBytes(p, true, false));
            // dweight (OC, C) += dout^T (OC, N) . inp (N, C): M = OC, columns C, K = N
            int splitWeight = kPerSplit(blocks(C, p.tileColumns()) * blocks(OC, p.tileRows()), N);
            launcher.begin().pointer(gradWeight).pointer(a).pointer(c).int32(OC).int32(C).int32(N).int32(splitWeight)
                    .launch(p.backwardWeight(), "matmul_backward_weight_bf16", blocks(C, p.tileColumns()),
                            blocks(OC, p.tileRows()), splits(N, splitWeight), p.threads(), 1,
                            pipelinedSharedBytes(p, false, false));
        } else {
            // dinp (N, C) += dout (N, OC) . weight (OC, C): M = N, columns C, K = OC
            int splitInput = kPerSplit(tiles(C) * tiles(N), OC);
            launcher.begin().pointer(gradInput).pointer(gradOut).pointer(weights).int32(N).int32(C).int32(OC)
                    .int32(splitInput)
                    .launch(matmulBackwardInput, "matmul_backward_input", tiles(C), tiles(N), splits(OC, splitInput),
                            MATMUL_THREADS, 1, 0);
            // dweight (OC, C) += dout^T (OC, N) . inp (N, C): M = OC, columns C, K = N
            int splitWeight = kPerSplit(tiles(C) * tiles(OC), N);
            launcher.begin().pointer(gradWeight).pointer(gradOut).pointer(input).int32(OC).int32(C).int32(N)
                    .int32(splitWeight)
                    .launch(matmulBackwardWeight, "matmul_backward_weight", tiles(C), tiles(OC), splits(N, splitWeight),
                            MATMUL_THREADS, 1, 0);
        }
        if (dbias != null) {
            int rowsPerBlock = 256;
            launcher.begin().pointer(floats(dbias, OC, "matmulBackward", "dbias")).pointer(gradOut).int32(N).int32(OC)
                    .int32(rowsPerBlock)
                    .launch(matmulBackwardBias, "matmul_backward_bias", blocks(OC, 32), blocks(N, rowsPerBlock), 1,
                            32, 8, 0);
        }
    }

    private static int tiles(int n) {
        return Math.max(1, (n + MATMUL_TILE - 1) / MATMUL_TILE);
    }

    /**
     * K per split of an accumulating product over {@code tileCount} output tiles. The blocks run in waves of two
     * per SM; a last wave that is mostly empty leaves SMs idle (384 tiles on 132 SMs: 1.45 waves), so the split
     * count (1 to 32, at least 4 k-tiles of 32 each) is the one whose waves are fullest: a further split must fill
     * them 5% better.
     */
    private int kPerSplit(int tileCount, int K) {
        int slots = 2 * device.multiprocessors();
        int maxSplits = Math.max(1, Math.min(32, K / (4 * MATMUL_TILE_K)));
        int count = 1;
        double best = 0;
        for (int splits = 1; splits <= maxSplits; splits++) {
            double waves = (double) tileCount * splits / slots;
            double fullness = waves / Math.ceil(waves);
            if (fullness > best * 1.05) {
                best = fullness;
                count = splits;
            }
        }
        int per = (K + count - 1) / count;
        return Math.max(MATMUL_TILE_K, (per + MATMUL_TILE_K - 1) / MATMUL_TILE_K * MATMUL_TILE_K);
    }

    private static int splits(int K, int kPerSplit) {
        return Math.max(1, (K + kPerSplit - 1) / kPerSplit);
    }

    @Override
    public long attentionStatisticsSize(int B, int T, int NH) {
        return 2L * B * NH * T;  // the log-sum-exp per query row, then backward's sum(dout * out) per row
    }

    /**
     * Which attention kernels serve head size C / NH: 0, 1, 2 the tensor-core kernels for head dims padded to 16,
     * 32 or 64; 3 the fp32 kernels (four threads per row) for head sizes 65 to 128.
     */
    private int attentionVariant(int C, int NH, String kernel) {
        if (NH <= 0 || C % NH != 0) {
            throw new IllegalArgumentException(kernel + ": C = " + C + " is not a multiple of NH = " + NH);
        }
        int hs = C / NH;
        if (hs <= 16) {
            return 0;
        }
        if (hs <= 32) {
            return 1;
        }
        if (hs <= 64) {
            return 2;
        }
        if (hs <= 128) {
            return 3;
        }
        throw new IllegalArgumentException(kernel + ": head size C / NH = " + hs + " is over the 128 the fused "
                + "attention supports; use more heads");
    }

    /**
     * Whether the tensor-core attention reads bf16 copies of qkv and dout (made first, streamed into shared memory
     * with asynchronous copies): head size and C multiples of 8, tensors 16-byte aligned.
     */
    private static boolean attentionFromBf16(int C, int NH, CudaTensor a, CudaTensor b) {
        return (C / NH) % 8 == 0 && C % 8 == 0 && ((a.address() | b.address()) & 15) == 0;
    }

    @Override
    public void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH) {
        enter();
        int variant = attentionVariant(C, NH, "attentionForward");
        float scale = (float) (1.0 / Math.sqrt((double) C / NH));
        CudaTensor output = floats(out, (long) B * T * C, "attentionForward", "out");
        CudaTensor statistics = floats(stats, attentionStatisticsSize(B, T, NH), "attentionForward", "stats");
        CudaTensor input = floats(qkv, 3L * B * T * C, "attentionForward", "qkv");
        if (variant == 3) {
            launcher.begin().pointer(output).pointer(statistics).pointer(input).int32(B).int32(T).int32(C).int32(NH)
                    .float32(scale).launch(attentionForward, "attention_forward", blocks(T, 64), B * NH, 1, 256, 1, 0);
            return;
        }
        int source = attentionFromBf16(C, NH, input, input) ? 1 : 0;
        CudaTensor qkvIn = source == 1 ? toBf16(3, input, 3L * B * T * C) : input;
        launcher.begin().pointer(output).pointer(statistics).pointer(qkvIn).int32(B).int32(T).int32(C).int32(NH)
                .float32(scale)
                .launch(attentionForwardTc[source][variant], "attention_forward_tc", blocks(T, 64), B * NH, 1, 128, 1, 0);
    }

    @Override
    public void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                                  int NH) {
        enter();
        int variant = attentionVariant(C, NH, "attentionBackward");
        float scale = (float) (1.0 / Math.sqrt((double) C / NH));
        CudaTensor gradQkv = floats(dqkv, 3L * B * T * C, "attentionBackward", "dqkv");
        CudaTensor gradOut = floats(dout, (long) B * T * C, "attentionBackward", "dout");
        CudaTensor input = floats(qkv, 3L * B * T * C, "attentionBackward", "qkv");
        CudaTensor statistics = floats(stats, attentionStatisticsSize(B, T, NH), "attentionBackward", "stats");
        long rows = (long) B * NH * T;
        launcher.begin().pointer(statistics).pointer(gradOut).pointer(floats(out, (long) B * T * C, "attentionBackward", "out"))
                .int32(B).int32(T).int32(C).int32(NH)
                .launch(attentionBackwardPreprocess, "attention_backward_preprocess", blocks(rows, 8), 1, 1, 256, 1, 0);
        CUfunction query;
        CUfunction keyValue;
        int threads;
        CudaTensor qkvIn = input;
        CudaTensor doutIn = gradOut;
        if (variant == 3) {
            query = attentionBackwardQuery;
            keyValue = attentionBackwardKeyValue;
            threads = 256;
        } else {
            int source = attentionFromBf16(C, NH, input, gradOut) ? 1 : 0;
            if (source == 1) {
                qkvIn = toBf16(3, input, 3L * B * T * C);
                doutIn = toBf16(4, gradOut, (long) B * T * C);
            }
            query = attentionBackwardQueryTc[source][variant];
            keyValue = attentionBackwardKeyValueTc[source][variant];
            threads = 128;
        }
        launcher.begin().pointer(gradQkv).pointer(doutIn).pointer(qkvIn).pointer(statistics)
                .int32(B).int32(T).int32(C).int32(NH).float32(scale)
                .launch(query, "attention_backward_query", blocks(T, 64), B * NH, 1, threads, 1, 0);
        launcher.begin().pointer(gradQkv).pointer(doutIn).pointer(qkvIn).pointer(statistics)
                .int32(B).int32(T).int32(C).int32(NH).float32(scale)
                .launch(keyValue, "attention_backward_key_value", blocks(T, 64), B * NH, 1, threads, 1, 0);
    }

    @Override
    public void geluForward(Tensor out, Tensor inp, int N) {
        elementwise(geluForward, "gelu_forward", N, floats(out, N, "geluForward", "out"), floats(inp, N, "geluForward", "inp"), null);
    }

    @Override
    public void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N) {
        elementwise(geluBackward, "gelu_backward", N, floats(dinp, N, "geluBackward", "dinp"),
                floats(dout, N, "geluBackward", "dout"), floats(inp, N, "geluBackward", "inp"));
    }

    @Override
    public void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N) {
        elementwise(residualForward, "residual_forward", N, floats(out, N, "residualForward", "out"),
                floats(inp1, N, "residualForward", "inp1"), floats(inp2, N, "residualForward", "inp2"));
    }

    @Override
    public void residualBackward(Tensor dinp1, Tensor dinp2, Tensor dout, int N) {
        elementwise(residualBackward, "residual_backward", N, floats(dinp1, N, "residualBackward", "dinp1"),
                floats(dinp2, N, "residualBackward", "dinp2"), floats(dout, N, "residualBackward", "dout"));
    }

    /** One thread per 4 elements; arguments (a, b[, c], n). */
    private void elementwise(CUfunction function, String name, long n, CudaTensor a, CudaTensor b, CudaTensor c) {
        enter();
        if (n == 0) {
            return;
        }
        Launcher l = launcher.begin().pointer(a).pointer(b);
        if (c != null) {
            l.pointer(c);
        }
        l.int64(n).launch(function, name, blocks((n + 3) / 4, ELEMENTWISE_THREADS), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    @Override
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        enter();
        if (V > Vp) {
            throw new IllegalArgumentException("softmaxCrossEntropy: V = " + V + " is larger than Vp = " + Vp);
        }
        CudaTensor input = floats(logits, (long) N * Vp, "softmaxCrossEntropy", "logits");
        CudaTensor gradient = backward ? floats(dlogits, (long) N * Vp, "softmaxCrossEntropy", "dlogits") : null;
        launcher.begin().pointer(floats(losses, N, "softmaxCrossEntropy", "losses"))
                .pointer(floats(correct, N, "softmaxCrossEntropy", "correct")).pointer(gradient).pointer(input)
                .pointer(ints(targets, N, "softmaxCrossEntropy", "targets")).float32(dlossScale).int32(backward ? 1 : 0)
                .int32(N).int32(V).int32(Vp)
                .launch(softmaxCrossEntropy, "softmax_cross_entropy", N, 1, 1, 512, 1, 0);
    }

    @Override
    public void mean(Tensor out, Tensor inp, long n) {
        enter();
        launcher.begin().pointer(floats(out, 1, "mean", "out")).pointer(floats(inp, n, "mean", "inp")).int64(n)
                .launch(mean, "mean", 1, 1, 1, 1024, 1, 0);
    }

    @Override
    public void globalNorm(Tensor out, Tensor inp, long n) {
        enter();
        int grid = (int) Math.max(1, Math.min(NORM_PARTIALS, (n + 1023) / 1024));
        launcher.begin().pointer(normPartials).pointer(floats(inp, n, "globalNorm", "inp")).int64(n)
                .launch(sumSquaresPartial, "sum_squares_partial", grid, 1, 1, 256, 1, 0);
        launcher.begin().pointer(floats(out, 1, "globalNorm", "out")).pointer(normPartials).int32(grid)
                .launch(sumSquaresFinish, "sum_squares_finish", 1, 1, 1, 1024, 1, 0);
    }

    @Override
    public void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
                      float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm,
                      int step) {
        enter();
        if (step < 1) {
            throw new IllegalArgumentException("adamw: step counts from 1, got " + step);
        }
        float biasCorrection1 = (float) (1.0 - Math.pow(beta1, step));
        float biasCorrection2 = (float) (1.0 - Math.pow(beta2, step));
        launcher.begin().pointer(floats(params, n, "adamw", "params")).pointer(floats(m, n, "adamw", "m"))
                .pointer(floats(v, n, "adamw", "v")).pointer(floats(grads, n, "adamw", "grads"))
                .pointer(floats(gradNorm, 1, "adamw", "gradNorm")).int64(n).int64(decayedSize).float32(learningRate)
                .float32(beta1).float32(beta2).float32(eps).float32(weightDecay).float32(maxGradNorm)
                .float32(biasCorrection1).float32(biasCorrection2)
                .launch(adamw, "adamw", gridStride(n), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    // ---- generation ------------------------------------------------------------------------

    @Override
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        enter();
        long cached = (long) (position + 1) * C;
        int shared = 4 * (position + 1);
        if (shared > 48 * 1024) {
            throw new IllegalArgumentException("attentionDecode: position " + position + " is over the 12287 this "
                    + "kernel supports");
        }
        launcher.begin().pointer(floats(out, C, "attentionDecode", "out")).pointer(floats(q, C, "attentionDecode", "q"))
                .pointer(floats(kcache, cached, "attentionDecode", "kcache"))
                .pointer(floats(vcache, cached, "attentionDecode", "vcache")).int32(position).int32(C).int32(NH)
                .launch(attentionDecode, "attention_decode", NH, 1, 1, 256, 1, shared);
    }

    @Override
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        enter();
        if (!(temperature >= 0f)) {
            throw new IllegalArgumentException("sample: temperature must be 0 (greedy) or positive, got " + temperature);
        }
        launcher.begin().pointer(ints(out, 1, "sample", "out")).pointer(floats(logits, V, "sample", "logits"))
                .pointer(floats(coin, 1, "sample", "coin")).float32(temperature).int32(topK).int32(V)
                .launch(sample, "sample", 1, 1, 1, 1024, 1, 0);
    }

    // ---- checks and sizes --------------------------------------------------------------------

    private CudaTensor floats(Tensor tensor, long needed, String kernel, String argument) {
        return checked(tensor, needed, kernel, argument, false);
    }

    private CudaTensor ints(IntTensor tensor, long needed, String kernel, String argument) {
        return checked(tensor, needed, kernel, argument, true);
    }

    private CudaTensor checked(Object tensor, long needed, String kernel, String argument, boolean ints) {
        if (!(tensor instanceof CudaTensor t) || t.owner() != this) {
            throw new IllegalArgumentException(kernel + ": " + argument + " is not memory of these CUDA kernels ("
                    + tensor + "); allocate it with this backend's allocate()");
        }
        if (t.holdsInts() != ints) {
            throw new IllegalArgumentException(kernel + ": " + argument + " must be " + (ints ? "int32" : "float32")
                    + " memory, got " + t);
        }
        if (t.size() < needed) {
            throw new IllegalArgumentException(kernel + ": " + argument + " has " + t.size() + " elements, needs "
                    + needed);
        }
        return t;
    }

    private static void checkHostRange(int length, int offset, long count, String what) {
        if (offset < 0 || count < 0 || offset + count > length) {
            throw new IndexOutOfBoundsException(what + ": host range [" + offset + ", " + (offset + count)
                    + ") is outside an array of " + length);
        }
    }

    private static int blocks(long n, int perBlock) {
        return (int) Math.max(1, (n + perBlock - 1) / perBlock);
    }

    /** Blocks of a grid-stride loop over n elements: enough to fill the GPU, no more. */
    private int gridStride(long n) {
        return (int) Math.max(1, Math.min((n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS,
                16L * device.multiprocessors()));
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        makeCurrent();
        Driver.note(cuCtxSynchronize());
        closed = true;
        for (DevicePointer memory : allocations) {
            cuMemFree(memory);
        }
        allocations.clear();
        if (profiler != null) {
            profiler.close();
        }
        for (StepGraph graph : graphs) {
            graph.close();
        }
        graphs.clear();
        staging.forgetDevicePointers();
        staging.close();
        modules.close();
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(cuDevice);
        if (Driver.takeContextLost()) {
            // a failed kernel leaves the context unusable for the whole process: start the next one afresh
            cuDevicePrimaryCtxReset(cuDevice);
        }
        CURRENT.remove();
    }
}
