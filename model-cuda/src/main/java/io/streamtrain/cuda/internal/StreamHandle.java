package io.streamtrain.cuda.internal;

import jcuda.driver.CUstream;

/** A {@link CUstream} that tells its native handle, for libraries outside JCuda (NCCL) that enqueue on it. */
public final class StreamHandle extends CUstream {

    /** The {@code CUstream} handle, as C code receives it. */
    public long address() {
        return getNativePointer();
    }
}
