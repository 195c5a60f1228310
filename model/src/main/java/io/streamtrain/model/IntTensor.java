package io.streamtrain.model;

/** A view of int32 memory owned by a {@link Kernels} backend: token ids and sampled tokens. */
public interface IntTensor {
    /** Number of int elements in this view. */
    long size();

    /** A sub-view of {@code size} elements starting {@code offset} elements into this one. */
    IntTensor slice(long offset, long size);
}
