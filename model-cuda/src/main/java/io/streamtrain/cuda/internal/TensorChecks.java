package io.streamtrain.cuda.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;

/** The device memory behind a kernel argument, checked to belong to one backend, of the right type and large enough. */
public final class TensorChecks {
    private final Object owner;

    /** Checks against tensors allocated by {@code owner}. */
    public TensorChecks(Object owner) {
        this.owner = owner;
    }

    /** The float32 memory behind {@code tensor}, with at least {@code needed} elements. */
    public CudaTensor floats(Tensor tensor, long needed, String kernel, String argument) {
        return checked(tensor, needed, kernel, argument, false);
    }

    /** The int32 memory behind {@code tensor}, with at least {@code needed} elements. */
    public CudaTensor ints(IntTensor tensor, long needed, String kernel, String argument) {
        return checked(tensor, needed, kernel, argument, true);
    }

    private CudaTensor checked(Object tensor, long needed, String kernel, String argument, boolean ints) {
        if (!(tensor instanceof CudaTensor t) || t.owner() != owner) {
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
}
