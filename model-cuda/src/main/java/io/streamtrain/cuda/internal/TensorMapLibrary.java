package io.streamtrain.cuda.internal;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The CUDA driver's {@code cuTensorMapEncodeTiled} ({@code cuda.h}, CUDA 12.0 and later), bound through JNA: JCuda
 * 12.6 does not expose it. It encodes on the host, into 128 bytes, the tensor map that the tensor memory
 * accelerator's copies ({@code cp.async.bulk.tensor}) read; it needs no context. Returns a {@code CUresult}.
 */
public interface TensorMapLibrary extends Library {
    /** {@code CU_TENSOR_MAP_DATA_TYPE_BFLOAT16}. */
    int BFLOAT16 = 9;
    /** {@code CU_TENSOR_MAP_INTERLEAVE_NONE}. */
    int INTERLEAVE_NONE = 0;
    /** {@code CU_TENSOR_MAP_SWIZZLE_128B}. */
    int SWIZZLE_128B = 3;
    /** {@code CU_TENSOR_MAP_L2_PROMOTION_L2_256B}. */
    int L2_PROMOTION_256B = 3;
    /** {@code CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE}: elements outside the tensor read as zero. */
    int OOB_FILL_ZERO = 0;

    int cuTensorMapEncodeTiled(Pointer tensorMap, int dataType, int rank, Pointer globalAddress, long[] globalDim,
                               long[] globalStrides, int[] boxDim, int[] elementStrides, int interleave, int swizzle,
                               int l2Promotion, int oobFill);

    /** The driver library ({@code libcuda.so.1}, which JCuda's driver binding loads too). */
    static TensorMapLibrary load() {
        return Native.load("libcuda.so.1", TensorMapLibrary.class);
    }
}
