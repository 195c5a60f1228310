package io.streamtrain.cuda.internal;

import com.sun.jna.Library;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.PointerByReference;

/**
 * The few calls of NCCL's C API ({@code nccl.h}) that data-parallel training needs, bound through JNA. Every call
 * returns an {@code ncclResult_t} (0: success); {@link #ncclGetErrorString} names the others.
 */
public interface NcclLibrary extends Library {
    /** {@code ncclFloat32}. */
    int FLOAT32 = 7;
    /** {@code ncclSum}. */
    int SUM = 0;
    /** {@code NCCL_UNIQUE_ID_BYTES}. */
    int UNIQUE_ID_BYTES = 128;
    /** {@code ncclSuccess}. */
    int SUCCESS = 0;
    /** {@code ncclInProgress}: a call on a non-blocking communicator goes on in NCCL's own thread (NCCL 2.14+). */
    int IN_PROGRESS = 7;

    /** {@code ncclUniqueId}: 128 opaque bytes, passed by value to {@code ncclCommInitRankConfig}. */
    @Structure.FieldOrder("internal")
    final class UniqueId extends Structure implements Structure.ByValue {
        public byte[] internal = new byte[UNIQUE_ID_BYTES];
    }

    /**
     * {@code ncclConfig_t} as NCCL 2.14's {@code nccl.h} declares it ({@code struct ncclConfig_v21400}: size, magic,
     * version, blocking; 24 bytes), initialised as that header's {@code NCCL_CONFIG_INITIALIZER} does, with
     * {@code blocking = 0}. NCCL's {@code ncclConfig_t} only grows at its end: a newer NCCL reads the first
     * {@code size} bytes, takes the fields the {@code version} knows, and its defaults for the others.
     */
    @Structure.FieldOrder({"size", "magic", "version", "blocking"})
    final class NonBlockingConfig extends Structure {
        /** {@code NCCL_API_MAGIC}. */
        public static final int MAGIC = 0xcafebeef;
        /** {@code NCCL_VERSION(2, 14, 0)}: the version of this layout, the first NCCL with non-blocking communicators. */
        public static final int LAYOUT_VERSION = 21400;

        public long size;       // size_t
        public int magic;       // unsigned int
        public int version;     // unsigned int
        public int blocking;

        public NonBlockingConfig() {
            size = size();
            magic = MAGIC;
            version = LAYOUT_VERSION;
            blocking = 0;
        }
    }

    int ncclGetVersion(IntByReference version);

    int ncclGetUniqueId(Pointer uniqueId);

    /** NCCL 2.14+: with {@code config.blocking = 0} it returns at once; the state says when the world is made. */
    int ncclCommInitRankConfig(PointerByReference comm, int nranks, UniqueId commId, int rank,
                               NonBlockingConfig config);

    int ncclCommInitAll(Pointer comms, int ndev, int[] devlist);

    int ncclAllReduce(Pointer sendbuff, Pointer recvbuff, long count, int datatype, int op, Pointer comm,
                      Pointer stream);

    int ncclGroupStart();

    int ncclGroupEnd();

    int ncclCommGetAsyncError(Pointer comm, IntByReference asyncError);

    int ncclCommAbort(Pointer comm);

    int ncclCommDestroy(Pointer comm);

    String ncclGetErrorString(int result);
}
