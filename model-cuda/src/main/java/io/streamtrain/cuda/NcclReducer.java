package io.streamtrain.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.streamtrain.cuda.internal.CudaTensor;
import io.streamtrain.cuda.internal.NcclLibrary;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The gradient all-reduce of GPU replicas through NCCL: one communicator per replica, bound to that replica's
 * {@link CudaKernels} (its device, its context, its stream). {@link #allReduceSum} enqueues an in-place
 * {@code ncclAllReduce} (float32, sum) on the kernels' stream after the backward pass and returns; the update that
 * follows on the same stream waits for it, so a step still has one host synchronisation (with one replica; with more,
 * {@code Gpt} reads the summed figures too).
 *
 * <p>Two ways to make a world: {@link #initAll} for every GPU of this process ({@code train --replicas N}), and
 * {@link #initRank} for one rank per process ({@code train --world-size W --rank R}), all ranks given the same
 * {@link Nccl#uniqueId}. Close every reducer (then the kernels); {@link #abort} stops a world whose peer died.
 */
public final class NcclReducer implements GradientReducer, AutoCloseable {
    private final Nccl nccl;
    private final CudaKernels kernels;
    private final Pointer comm;
    private final int rank;
    private final int worldSize;
    // the pointers of the last buffer and of the stream: made once, so a step allocates nothing
    private long bufferAddress;
    private Pointer buffer;
    private Pointer stream;
    private boolean closed;

    private NcclReducer(Nccl nccl, CudaKernels kernels, Pointer comm, int rank, int worldSize) {
        this.nccl = nccl;
        this.kernels = kernels;
        this.comm = comm;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    /**
     * A world of every kernels' GPU in this process ({@code ncclCommInitAll}); reducer r belongs to kernels r.
     * The GPUs must differ (NCCL has one rank per device).
     */
    public static List<NcclReducer> initAll(Nccl nccl, List<CudaKernels> kernels) {
        Objects.requireNonNull(nccl, "nccl");
        int n = kernels.size();
        if (n == 0) {
            throw new IllegalArgumentException("a world needs at least one GPU");
        }
        int[] devices = new int[n];
        for (int r = 0; r < n; r++) {
            devices[r] = kernels.get(r).device().ordinal();
            for (int q = 0; q < r; q++) {
                if (devices[q] == devices[r]) {
                    throw new IllegalArgumentException("replicas " + q + " and " + r + " are both on GPU " + devices[r]
                            + ": NCCL needs one GPU per replica");
                }
            }
        }
        kernels.get(0).enterForCollective("ncclCommInitAll");
        Memory comms = new Memory(8L * n);
        nccl.check(nccl.library().ncclCommInitAll(comms, n, devices), "creating a world of " + n + " GPUs");
        List<NcclReducer> reducers = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            reducers.add(new NcclReducer(nccl, kernels.get(r), comms.getPointer(8L * r), r, n));
        }
        return List.copyOf(reducers);
    }

    /**
     * This process's rank of a world of {@code worldSize} ({@code ncclCommInitRank}): blocks until every rank has
     * joined with the same {@code uniqueId}.
     */
    public static NcclReducer initRank(Nccl nccl, CudaKernels kernels, byte[] uniqueId, int worldSize, int rank) {
        Objects.requireNonNull(nccl, "nccl");
        if (uniqueId.length != NcclLibrary.UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + NcclLibrary.UNIQUE_ID_BYTES + " bytes, got "
                    + uniqueId.length);
        }
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is not in a world of " + worldSize);
        }
        kernels.enterForCollective("ncclCommInitRank");
        NcclLibrary.UniqueId id = new NcclLibrary.UniqueId();
        System.arraycopy(uniqueId, 0, id.internal, 0, uniqueId.length);
        PointerByReference comm = new PointerByReference();
        nccl.check(nccl.library().ncclCommInitRank(comm, worldSize, id, rank),
                "joining rank " + rank + " of a world of " + worldSize);
        return new NcclReducer(nccl, kernels, comm.getValue(), rank, worldSize);
    }

    @Override
    public int worldSize() {
        return worldSize;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public void allReduceSum(Kernels kernels, Tensor tensor) {
        if (kernels != this.kernels) {
            throw new IllegalArgumentException("rank " + rank + "'s reducer belongs to another replica's kernels");
        }
        if (closed) {
            throw new IllegalStateException("rank " + rank + "'s NCCL communicator is closed");
        }
        CudaTensor t = (CudaTensor) tensor;
        long streamAddress = this.kernels.enterForCollective("an NCCL all-reduce");
        this.kernels.writtenByCollective(t);
        if (stream == null || Pointer.nativeValue(stream) != streamAddress) {
            stream = new Pointer(streamAddress);
        }
        if (buffer == null || bufferAddress != t.address()) {
            bufferAddress = t.address();
            buffer = new Pointer(bufferAddress);
        }
        nccl.check(nccl.library().ncclAllReduce(buffer, buffer, t.size(), NcclLibrary.FLOAT32, NcclLibrary.SUM, comm,
                stream), "all-reducing " + t.size() + " floats on rank " + rank + " of " + worldSize);
    }

    /**
     * The error a peer's failure left in this communicator, or null: for a watchdog, since an all-reduce whose peer
     * died waits on the GPU for ever.
     */
    public String asyncError() {
        IntByReference error = new IntByReference();
        nccl.check(nccl.library().ncclCommGetAsyncError(comm, error), "reading rank " + rank + "'s error state");
        return error.getValue() == 0 ? null : nccl.library().ncclGetErrorString(error.getValue());
    }

    /** Stops this rank's communicator at once, unblocking its pending all-reduce (the world is over). */
    public synchronized void abort() {
        if (!closed) {
            closed = true;
            nccl.library().ncclCommAbort(comm);
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            kernels.enterForCollective("closing an NCCL communicator");
            nccl.check(nccl.library().ncclCommDestroy(comm), "closing rank " + rank + "'s communicator");
        }
    }
}
