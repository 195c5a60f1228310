package io.streamtrain.cuda.internal;

/**
 * Driver pointers by device address, made once and reused: the driver's copy calls take a pointer object, and
 * a model that slices the same rows every step must not allocate one per copy. Open addressing over
 * primitive keys; grows (allocates) only while new addresses appear, i.e. during the first step.
 */
public final class PointerCache {
    private long[] keys = new long[256];
    private DevicePointer[] values = new DevicePointer[256];
    private int count;

    /** A pointer to {@code address}, which lies inside {@code allocation}. */
    public DevicePointer at(DevicePointer allocation, long address) {
        int mask = keys.length - 1;
        int slot = (int) (mix(address) & mask);
        while (values[slot] != null) {
            if (keys[slot] == address) {
                return values[slot];
            }
            slot = (slot + 1) & mask;
        }
        DevicePointer pointer = allocation.offset(address - allocation.address());
        keys[slot] = address;
        values[slot] = pointer;
        if (++count * 2 > keys.length) {
            grow();
        }
        return pointer;
    }

    private void grow() {
        long[] oldKeys = keys;
        DevicePointer[] oldValues = values;
        keys = new long[oldKeys.length * 2];
        values = new DevicePointer[oldValues.length * 2];
        int mask = keys.length - 1;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldValues[i] != null) {
                int slot = (int) (mix(oldKeys[i]) & mask);
                while (values[slot] != null) {
                    slot = (slot + 1) & mask;
                }
                keys[slot] = oldKeys[i];
                values[slot] = oldValues[i];
            }
        }
    }

    private static long mix(long x) {
        x ^= x >>> 33;
        x *= 0xff51afd7ed558ccdL;
        return x ^ (x >>> 33);
    }

    /** Forgets every pointer (when the memory is freed). */
    public void clear() {
        keys = new long[256];
        values = new DevicePointer[256];
        count = 0;
    }
}
