package io.streamtrain.cuda.internal;

import jcuda.driver.CUdeviceptr;

/** A {@link CUdeviceptr} that also tells its address, so that kernels get it as a plain 64-bit argument. */
public final class DevicePointer extends CUdeviceptr {

    /** An empty pointer for {@code cuMemAlloc} to fill. */
    public DevicePointer() {
    }

    private DevicePointer(DevicePointer base, long byteOffset) {
        super(base, byteOffset);
    }

    /** A pointer {@code byteOffset} bytes into this one. */
    public DevicePointer offset(long byteOffset) {
        return new DevicePointer(this, byteOffset);
    }

    /** The device address this pointer holds. */
    public long address() {
        return getNativePointer() + getByteOffset();
    }
}
