package io.streamtrain.cuda;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;
import io.streamtrain.cuda.internal.CudaTensor;
import io.streamtrain.cuda.internal.NcclLibrary;
import io.streamtrain.cuda.internal.NcclStateWait;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.time.Duration;
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
    // ncclCommInitAll's communicators block: their calls never return ncclInProgress
    private static final int INVALID_USAGE = 5; // ncclInvalidUsage
    private static final Duration BLOCKING = Duration.ofDays(1);
    private final Nccl nccl;
    private final CudaKernels kernels;
    private final Pointer comm;
    private final int rank;
    private final int worldSize;
    private final Duration timeout; // the longest wait for a non-blocking call (initRank's communicators)
    // the pointers of the last buffer and of the stream: made once, so a step allocates nothing
    private long bufferAddress;
    private Pointer buffer;
    private Pointer stream;
    private boolean closed;

    private NcclReducer(Nccl nccl, CudaKernels kernels, Pointer comm, int rank, int worldSize, Duration timeout) {
        this.nccl = nccl;
        this.kernels = kernels;
        this.comm = comm;
        this.rank = rank;
        this.worldSize = worldSize;
        this.timeout = timeout;
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
            reducers.add(new NcclReducer(nccl, kernels.get(r), comms.getPointer(8L * r), r, n, BLOCKING));
        }
        return List.copyOf(reducers);
    }

    /**
     * This process's rank of a world of {@code worldSize}, all ranks given the same {@code uniqueId}: waits until every
     * rank has joined, at most {@code timeout}. NCCL's initialisation runs without blocking
     * ({@code ncclCommInitRankConfig} with {@code blocking = 0}; NCCL 2.14 or newer) while this thread reads its state;
     * past {@code timeout} the communicator is aborted ({@code ncclCommAbort}), so a rank that died between the
     * rendezvous and the end of the initialisation cannot hold the others for ever.
     *
     * @throws IllegalStateException naming the rank, the world size and the phase when the world was not made in time
     *                               or NCCL failed making it
     */
    public static NcclReducer initRank(Nccl nccl, CudaKernels kernels, byte[] uniqueId, int worldSize, int rank,
                                       Duration timeout) {
        Objects.requireNonNull(nccl, "nccl");
        if (uniqueId.length != NcclLibrary.UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + NcclLibrary.UNIQUE_ID_BYTES + " bytes, got "
                    + uniqueId.length);
        }
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("rank " + rank + " is not in a world of " + worldSize);
        }
        if (timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("the timeout of NCCL's initialisation must be positive, got " + timeout);
        }
        nccl.requireNonBlockingCommunicators();
        kernels.enterForCollective("ncclCommInitRankConfig");
        NcclLibrary.UniqueId id = new NcclLibrary.UniqueId();
        System.arraycopy(uniqueId, 0, id.internal, 0, uniqueId.length);
        PointerByReference comm = new PointerByReference();
        int started = nccl.library().ncclCommInitRankConfig(comm, worldSize, id, rank,
                new NcclLibrary.NonBlockingConfig());
        NcclReducer reducer = comm.getValue() == null ? null
                : new NcclReducer(nccl, kernels, comm.getValue(), rank, worldSize, timeout);
        if (reducer != null && (started == NcclLibrary.SUCCESS || started == NcclLibrary.IN_PROGRESS)) {
            reducer.awaitReady("NCCL's initialisation (ncclCommInitRankConfig)",
                    "a rank died or hung after the rendezvous, or cannot reach this one");
            return reducer;
        }
        if (reducer != null) {
            reducer.abort();
        }
        throw new IllegalStateException("rank " + rank + " of a world of " + worldSize + " could not start NCCL's"
                + " initialisation (ncclCommInitRankConfig): " + nccl.library().ncclGetErrorString(started)
                + " (ncclResult " + started + "; NCCL_DEBUG=WARN says more)");
    }

    /**
     * Waits until the communicator has finished its non-blocking call (its state leaves {@code ncclInProgress}), at
     * most the init timeout; on an error or past it, aborts the communicator and throws.
     */
    private void awaitReady(String phase, String likelyCause) {
        int state = NcclStateWait.await(this::state, timeout.toNanos());
        if (state == NcclLibrary.SUCCESS) {
            return;
        }
        abort();
        String who = "rank " + rank + " of a world of " + worldSize;
        if (state == NcclLibrary.IN_PROGRESS) {
            throw new IllegalStateException(who + (Thread.currentThread().isInterrupted() ? " was interrupted"
                    : " waited more than " + timeout.toMillis() + " ms") + " for the other ranks during " + phase
                    + " and aborted its communicator: " + likelyCause + " (NCCL_DEBUG=WARN on every rank says which;"
                    + " NCCL_SOCKET_IFNAME picks the network); restart every rank");
        }
        throw new IllegalStateException(who + " failed during " + phase + ": "
                + nccl.library().ncclGetErrorString(state) + " (ncclResult " + state + "; NCCL_DEBUG=WARN says more): "
                + likelyCause + "; restart every rank");
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
        int result = nccl.library().ncclAllReduce(buffer, buffer, t.size(), NcclLibrary.FLOAT32, NcclLibrary.SUM, comm,
                stream);
        if (result == NcclLibrary.IN_PROGRESS) {
            // a non-blocking communicator connecting to its peers (its first all-reduce): NCCL enqueues the all-reduce
            // from its own thread, so the update must not be enqueued before it is
            awaitReady("the set-up of an NCCL all-reduce", "a rank died or hung");
        } else {
            nccl.check(result, "all-reducing " + t.size() + " floats on rank " + rank + " of " + worldSize);
        }
    }

    /**
     * The error a peer's failure left in this communicator, or null: for a watchdog, since an all-reduce whose peer
     * died waits on the GPU for ever.
     */
    public String asyncError() {
        int state = state();
        return state == NcclLibrary.SUCCESS || state == NcclLibrary.IN_PROGRESS ? null
                : nccl.library().ncclGetErrorString(state);
    }

    /**
     * The communicator's state ({@code ncclCommGetAsyncError}): success, in progress, or an error; an aborted or closed
     * one reads as {@code ncclInvalidUsage} (its memory is NCCL's no more).
     */
    private synchronized int state() {
        if (closed) {
            return INVALID_USAGE;
        }
        IntByReference state = new IntByReference();
        int read = nccl.library().ncclCommGetAsyncError(comm, state);
        return read != NcclLibrary.SUCCESS ? read : state.getValue();
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
            int result = nccl.library().ncclCommDestroy(comm);
            if (result != NcclLibrary.IN_PROGRESS) { // a non-blocking communicator may finish its destruction later
                nccl.check(result, "closing rank " + rank + "'s communicator");
            }
        }
    }
}
