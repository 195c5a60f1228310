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

    /** {@code ncclUniqueId}: 128 opaque bytes, passed by value to {@code ncclCommInitRank}. */
    @Structure.FieldOrder("internal")
    final class UniqueId extends Structure implements Structure.ByValue {
        public byte[] internal = new byte[UNIQUE_ID_BYTES];
    }

    int ncclGetVersion(IntByReference version);

    int ncclGetUniqueId(Pointer uniqueId);

    int ncclCommInitRank(PointerByReference comm, int nranks, UniqueId commId, int rank);

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
