package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuGraphAddKernelNode;
import static jcuda.driver.JCudaDriver.cuGraphCreate;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecKernelNodeSetParams;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;

import java.nio.ByteBuffer;
import java.util.Arrays;
import jcuda.Pointer;
import jcuda.driver.CUDA_KERNEL_NODE_PARAMS;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUgraphNode;
import jcuda.driver.CUstream;

/**
 * One repeated sequence of kernel launches (a training step of one (B, T)) captured as a CUDA graph and replayed
 * with one {@code cuGraphLaunch}.
 *
 * <p>Capture ({@link Launcher#capture}) adds each launch to the graph as a kernel node that depends on the one before
 * (the chain the stream would run), instead of launching it, and records it: function, grid, block, shared bytes and
 * the 8-byte argument slots. The graph is built node by node rather than by stream capture because that keeps each
 * node's handle, which updates need (JCuda 12.6's calls that list a graph's nodes pass the driver an uninitialised
 * array size). Replay ({@link Launcher#replay}) runs the caller's kernel calls
 * again without launching them: each launch is compared with its record; changed arguments (AdamW's learning rate
 * and bias corrections every step, tensors after a reallocation) are written into the instantiated graph with
 * {@code cuGraphExecKernelNodeSetParams}, which affects the next launches only. A launch that differs in anything
 * else (another kernel, grid or argument count) marks the graph stale: the caller captures it again. So a replay
 * always runs exactly the kernels and arguments that a direct run would. Nothing is allocated after the capture.
 */
public final class StepGraph implements AutoCloseable {
    private static final int SHAPE = 6; // gridX, gridY, gridZ, blockX, blockY, shared bytes

    private final long key;
    private final CUstream stream;
    private final CUDA_KERNEL_NODE_PARAMS update = new CUDA_KERNEL_NODE_PARAMS();
    private CUgraph graph;
    private CUgraphExec exec;
    private CUgraphNode[] nodes = new CUgraphNode[64];
    // the record, one entry per launch: the function, its SHAPE ints, its arguments [argumentStarts[i], [i + 1])
    private CUfunction[] functions = new CUfunction[64];
    private int[] shapes = new int[64 * SHAPE];
    private long[] arguments = new long[512];
    private int[] argumentStarts = new int[65];
    private int launches;
    private int cursor;  // the next launch a replay compares
    private boolean stale;
    private long updatedArguments;

    public StepGraph(long key, CUstream stream) {
        this.key = key;
        this.stream = stream;
    }

    public long key() {
        return key;
    }

    /** Whether a graph has been captured and instantiated. */
    public boolean captured() {
        return exec != null;
    }

    /** Kernel nodes whose arguments replays have updated so far. */
    public long updatedArguments() {
        return updatedArguments;
    }

    /** Starts an empty graph and record (frees any graph before). */
    void beginCapture() {
        close();
        launches = 0;
        argumentStarts[0] = 0;
        graph = new CUgraph();
        Driver.check(cuGraphCreate(graph, 0), "creating a step graph");
    }

    /**
     * Adds a launch to the graph, after the one before, and records it: {@code count} argument slots of {@code slots},
     * which {@code argumentList} points at as for {@code cuLaunchKernel}.
     */
    void add(CUfunction function, String name, int gridX, int gridY, int gridZ, int blockX, int blockY,
             int sharedBytes, ByteBuffer slots, int count, Pointer argumentList) {
        if (launches == functions.length) {
            nodes = Arrays.copyOf(nodes, 2 * launches);
            functions = Arrays.copyOf(functions, 2 * launches);
            shapes = Arrays.copyOf(shapes, 2 * launches * SHAPE);
            argumentStarts = Arrays.copyOf(argumentStarts, 2 * launches + 1);
        }
        int start = argumentStarts[launches];
        if (start + count > arguments.length) {
            arguments = Arrays.copyOf(arguments, 2 * (start + count));
        }
        functions[launches] = function;
        int s = launches * SHAPE;
        shapes[s] = gridX;
        shapes[s + 1] = gridY;
        shapes[s + 2] = gridZ;
        shapes[s + 3] = blockX;
        shapes[s + 4] = blockY;
        shapes[s + 5] = sharedBytes;
        for (int i = 0; i < count; i++) {
            arguments[start + i] = slots.getLong(8 * i);
        }
        CUgraphNode node = new CUgraphNode();
        CUgraphNode[] dependencies = launches == 0 ? new CUgraphNode[0] : new CUgraphNode[] {nodes[launches - 1]};
        Driver.check(cuGraphAddKernelNode(node, graph, dependencies, dependencies.length,
                        parameters(function, gridX, gridY, gridZ, blockX, blockY, sharedBytes, argumentList)),
                "adding kernel " + name + " to the step graph");
        nodes[launches] = node;
        argumentStarts[++launches] = start + count;
    }

    private CUDA_KERNEL_NODE_PARAMS parameters(CUfunction function, int gridX, int gridY, int gridZ, int blockX,
                                               int blockY, int sharedBytes, Pointer argumentList) {
        update.func = function;
        update.gridDimX = gridX;
        update.gridDimY = gridY;
        update.gridDimZ = gridZ;
        update.blockDimX = blockX;
        update.blockDimY = blockY;
        update.blockDimZ = 1;
        update.sharedMemBytes = sharedBytes;
        update.kernelParams = argumentList;
        update.extra = null;
        return update;
    }

    /** Instantiates the graph built since {@link #beginCapture}. */
    public void instantiate() {
        exec = new CUgraphExec();
        int result = cuGraphInstantiate(exec, graph, 0);
        if (result != 0) {
            exec = null;
            Driver.check(result, "instantiating the step graph of " + launches + " kernels");
        }
    }

    /** Before the caller's kernel calls of a replay. */
    void beginReplay() {
        cursor = 0;
        stale = false;
    }

    /**
     * Compares a launch of the replay with its record; when only arguments differ, writes them into the graph.
     * {@code argumentList} points at the {@code count} slots, as for {@code cuLaunchKernel}.
     */
    void compare(CUfunction function, String name, int gridX, int gridY, int gridZ, int blockX, int blockY,
                 int sharedBytes, ByteBuffer slots, int count, Pointer argumentList) {
        if (stale) {
            return;
        }
        int i = cursor++;
        int s = i * SHAPE;
        if (i >= launches || functions[i] != function || shapes[s] != gridX || shapes[s + 1] != gridY
                || shapes[s + 2] != gridZ || shapes[s + 3] != blockX || shapes[s + 4] != blockY
                || shapes[s + 5] != sharedBytes || argumentStarts[i + 1] - argumentStarts[i] != count) {
            stale = true;
            return;
        }
        int start = argumentStarts[i];
        boolean changed = false;
        for (int a = 0; a < count; a++) {
            long value = slots.getLong(8 * a);
            if (arguments[start + a] != value) {
                arguments[start + a] = value;
                changed = true;
            }
        }
        if (changed) {
            int result = cuGraphExecKernelNodeSetParams(exec, nodes[i],
                    parameters(function, gridX, gridY, gridZ, blockX, blockY, sharedBytes, argumentList));
            if (result != 0) { // the message only on failure: building it every step would allocate
                Driver.check(result, "updating the arguments of kernel " + name + " (launch " + i
                        + ") in the step graph");
            }
            updatedArguments++;
        }
    }

    /** After the caller's kernel calls of a replay: whether the graph still holds them (else capture it again). */
    public boolean endReplay() {
        if (cursor != launches) {
            stale = true;
        }
        return !stale;
    }

    /** Enqueues the graph on the stream. */
    public void launch() {
        int result = cuGraphLaunch(exec, stream);
        if (result != 0) {
            Driver.check(result, "launching the step graph of " + launches + " kernels");
        }
    }

    /** Frees the graph (a later capture makes a new one). */
    @Override
    public void close() {
        if (exec != null) {
            cuGraphExecDestroy(exec);
            exec = null;
        }
        if (graph != null) {
            cuGraphDestroy(graph);
            graph = null;
        }
        Arrays.fill(nodes, null);
    }
}
