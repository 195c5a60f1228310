package io.streamtrain.model.cpu.internal;

import io.streamtrain.model.Tensor;

/** A float32 view on the CPU: elements [offset, offset + length) of a Java array. */
public final class CpuTensor extends ArrayView implements Tensor {
    /** The backing array, shared by every view of one allocation. */
    public final float[] array;

    public CpuTensor(float[] array, int offset, int length) {
        super(array.length, offset, length, "floats");
        this.array = array;
    }

    @Override
    public CpuTensor slice(long offset, long size) {
        return new CpuTensor(array, sliceOffset(offset, size), (int) size);
    }

    @Override
    public String toString() {
        return "CpuTensor[" + length + " floats at " + offset + "]";
    }
}
