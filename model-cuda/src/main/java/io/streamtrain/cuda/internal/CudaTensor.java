package io.streamtrain.cuda.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;

/**
 * A view of device memory: {@code size} elements of 4 bytes (float32 or int32) starting at {@code address},
 * inside one allocation. Kernels get the address; driver copies get a pointer from a {@link PointerCache}.
 */
public final class CudaTensor implements Tensor, IntTensor {
    private final Object owner;
    private final DevicePointer allocation;
    private final long byteOffset;
    private final long size;
    private final boolean ints;
    private final long address;

    public CudaTensor(Object owner, DevicePointer allocation, long byteOffset, long size, boolean ints) {
        this.owner = owner;
        this.allocation = allocation;
        this.byteOffset = byteOffset;
        this.size = size;
        this.ints = ints;
        this.address = allocation.address() + byteOffset;
    }

    @Override
    public long size() {
        return size;
    }

    /** The device address of element 0. */
    public long address() {
        return address;
    }

    public boolean holdsInts() {
        return ints;
    }

    public Object owner() {
        return owner;
    }

    /** The allocation this view lies in. */
    public DevicePointer allocation() {
        return allocation;
    }

    @Override
    public CudaTensor slice(long offset, long size) {
        if (offset < 0 || size < 0 || offset + size > this.size) {
            throw new IndexOutOfBoundsException("slice [" + offset + ", " + (offset + size) + ") is outside a tensor of "
                    + this.size + " elements");
        }
        return new CudaTensor(owner, allocation, byteOffset + 4 * offset, size, ints);
    }

    @Override
    public String toString() {
        return (ints ? "int32" : "float32") + "[" + size + "] at 0x" + Long.toHexString(address);
    }
}
