package io.streamtrain.model.cpu.internal;

import io.streamtrain.model.IntTensor;

/** An int32 view on the CPU: elements [offset, offset + length) of a Java array. */
public final class CpuIntTensor extends ArrayView implements IntTensor {
    /** The backing array, shared by every view of one allocation. */
    public final int[] array;

    public CpuIntTensor(int[] array, int offset, int length) {
        super(array.length, offset, length, "ints");
        this.array = array;
    }

    @Override
    public CpuIntTensor slice(long offset, long size) {
        return new CpuIntTensor(array, sliceOffset(offset, size), (int) size);
    }

    @Override
    public String toString() {
        return "CpuIntTensor[" + length + " ints at " + offset + "]";
    }
}
