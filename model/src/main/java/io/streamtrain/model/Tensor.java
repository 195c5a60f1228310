package io.streamtrain.model;

/**
 * A view of float32 memory owned by a {@link Kernels} backend: elements
 * [0, {@link #size()}) of a region of one allocation. On the CPU it is a range of a Java array,
 * on the GPU a range of device memory; the model never touches the elements directly.
 */
public interface Tensor {
    /** Number of float elements in this view. */
    long size();

    /** A sub-view of {@code size} elements starting {@code offset} elements into this one. */
    Tensor slice(long offset, long size);
}
