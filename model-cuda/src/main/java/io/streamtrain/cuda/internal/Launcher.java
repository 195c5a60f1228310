package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuLaunchKernel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.driver.CUfunction;
import jcuda.driver.CUstream;

/**
 * Launches kernels without allocating: arguments are written into one direct buffer of 8-byte slots, and the
 * argument lists (a pointer per slot) are built once per argument count. The driver reads each argument's
 * own size from its slot (x86-64 is little-endian, so a 4-byte int or float is the slot's first 4 bytes).
 * Usage: {@code launcher.begin().pointer(out).integer(n).launch(function, ...)}. Launches go to the stream directly;
 * while a {@link StepGraph} is captured they are added to it instead, and while one is replayed only compared with
 * it (nothing is launched either way). Not thread-safe.
 */
public final class Launcher {
    private static final int MAX_ARGUMENTS = 24;

    private final ByteBuffer slots = ByteBuffer.allocateDirect(8 * MAX_ARGUMENTS).order(ByteOrder.nativeOrder());
    private final Pointer[] argumentLists = new Pointer[MAX_ARGUMENTS + 1];
    private final CUstream stream;
    private int count;
    private KernelProfiler profiler;
    private StepGraph capturing;  // non-null while a step graph is captured
    private StepGraph replaying;  // non-null while a step graph is replayed

    public Launcher(CUstream stream) {
        this.stream = stream;
        Pointer[] slotPointers = new Pointer[MAX_ARGUMENTS];
        for (int i = 0; i < MAX_ARGUMENTS; i++) {
            slotPointers[i] = Pointer.to(slots.slice(8 * i, 8).order(ByteOrder.nativeOrder()));
        }
        for (int n = 1; n <= MAX_ARGUMENTS; n++) {
            argumentLists[n] = Pointer.to(Arrays.copyOf(slotPointers, n));
        }
    }

    /** The stream the launches go to (and copies that must precede them). */
    public CUstream stream() {
        return stream;
    }

    /** Times every launch from now on with {@code profiler} (null: stop timing). */
    public void profile(KernelProfiler profiler) {
        this.profiler = profiler;
    }

    /** Whether launches are timed (a step graph is then not used: the profiler's events are not graph nodes). */
    public boolean profiling() {
        return profiler != null;
    }

    /** From now on, launches are added to {@code graph} (a new, empty one) instead of made. */
    public void capture(StepGraph graph) {
        graph.beginCapture();
        capturing = graph;
        replaying = null;
    }

    /** From now on, launches are not made but compared with {@code graph}'s record, updating changed arguments. */
    public void replay(StepGraph graph) {
        graph.beginReplay();
        replaying = graph;
        capturing = null;
    }

    /** From now on, launches go to the stream directly (ends {@link #capture} and {@link #replay}). */
    public void direct() {
        capturing = null;
        replaying = null;
    }

    /** Whether a step graph is being captured or replayed: only kernel launches are allowed then. */
    public boolean inStepGraph() {
        return capturing != null || replaying != null;
    }

    public Launcher begin() {
        count = 0;
        return this;
    }

    /** A device pointer argument: the tensor's address, or 0 for null. */
    public Launcher pointer(CudaTensor tensor) {
        return int64(tensor == null ? 0L : tensor.address());
    }

    public Launcher int64(long value) {
        slots.putLong(8 * count++, value);
        return this;
    }

    public Launcher int32(int value) {
        slots.putLong(8 * count++, value & 0xffffffffL);
        return this;
    }

    public Launcher float32(float value) {
        slots.putLong(8 * count++, Float.floatToRawIntBits(value) & 0xffffffffL);
        return this;
    }

    /** Enqueues {@code function} on the stream with the arguments given since {@link #begin}. */
    public void launch(CUfunction function, String name, int gridX, int gridY, int gridZ, int blockX, int blockY,
                       int sharedBytes) {
        if (replaying != null) {
            replaying.compare(function, name, gridX, gridY, gridZ, blockX, blockY, sharedBytes, slots, count,
                    argumentLists[count]);
            return;
        }
        if (capturing != null) {
            capturing.add(function, name, gridX, gridY, gridZ, blockX, blockY, sharedBytes, slots, count,
                    argumentLists[count]);
            return;
        }
        if (profiler != null) {
            profiler.before(name + " " + gridX + "x" + gridY + "x" + gridZ);
        }
        int result = cuLaunchKernel(function, gridX, gridY, gridZ, blockX, blockY, 1, sharedBytes, stream,
                argumentLists[count], null);
        if (profiler != null) {
            profiler.after();
        }
        if (result != 0) {
            Driver.check(result, "launching kernel " + name + " (grid " + gridX + "x" + gridY + "x" + gridZ
                    + ", block " + blockX + "x" + blockY + ", " + sharedBytes + " bytes shared)");
        }
    }
}
