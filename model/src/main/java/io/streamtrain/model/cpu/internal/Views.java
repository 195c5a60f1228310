package io.streamtrain.model.cpu.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;

/** The CPU view behind a kernel argument, checked to be one and to be large enough. */
public final class Views {
    private Views() {
    }

    /**
     * The CPU view behind {@code tensor}, checked to hold at least {@code needed} elements.
     *
     * @param kernel   kernel name, for the message
     * @param argument argument name, for the message
     */
    public static CpuTensor floats(Tensor tensor, long needed, String kernel, String argument) {
        if (!(tensor instanceof CpuTensor view)) {
            throw notOurs(tensor, kernel, argument);
        }
        view.requireAtLeast(needed, kernel, argument);
        return view;
    }

    /** As {@link #floats}, for int tensors. */
    public static CpuIntTensor ints(IntTensor tensor, long needed, String kernel, String argument) {
        if (!(tensor instanceof CpuIntTensor view)) {
            throw notOurs(tensor, kernel, argument);
        }
        view.requireAtLeast(needed, kernel, argument);
        return view;
    }

    private static IllegalArgumentException notOurs(Object tensor, String kernel, String argument) {
        return new IllegalArgumentException(kernel + ": " + argument + " is "
                + (tensor == null ? "null" : "a " + tensor.getClass().getName())
                + ", not a tensor of the CPU backend: allocate it with this CpuKernels");
    }
}
