package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import jcuda.Pointer;
import jcuda.driver.CUstream;

/**
 * Page-locked host memory for the copies between the JVM and the GPU, allocated once.
 *
 * <p>Host-to-device: a ring of {@link #RING_BYTES}; a write copies the Java array into the ring at its cursor and
 * enqueues an asynchronous copy from there, so the call returns at once. The ring is reused from its start after
 * every read (which waits for the stream, so every copy out of the ring has ended); only when it fills up between
 * two reads does a write wait for the stream. Device-to-host: one buffer; a read enqueues the copy, waits for the
 * stream (the host synchronisation) and copies out. Transfers larger than a buffer go through in chunks.
 * Pointer objects for the ring's granules and for device addresses are made once, so copies allocate nothing.
 */
public final class PinnedStaging implements AutoCloseable {
    /** Bytes of the write ring and of the read buffer. */
    public static final int RING_BYTES = 4 << 20;
    /** Writes start at multiples of this many bytes of the ring. */
    private static final int GRANULE = 1024;

    private final CUstream stream;
    private final PointerCache devicePointers = new PointerCache();
    private final Pointer writeMemory = new Pointer();
    private final Pointer readMemory = new Pointer();
    private final Pointer[] granules = new Pointer[RING_BYTES / GRANULE];
    private final FloatBuffer writeFloats;
    private final IntBuffer writeInts;
    private final FloatBuffer readFloats;
    private final IntBuffer readInts;
    private int cursor;  // next free byte of the ring
    private long synchronizations;
    private long hostToDeviceCopies;

    public PinnedStaging(CUstream stream) {
        this.stream = stream;
        Driver.check(cuMemHostAlloc(writeMemory, RING_BYTES, 0), "allocating pinned host memory");
        Driver.check(cuMemHostAlloc(readMemory, RING_BYTES, 0), "allocating pinned host memory");
        for (int i = 0; i < granules.length; i++) {
            granules[i] = writeMemory.withByteOffset((long) i * GRANULE);
        }
        ByteBuffer writeBytes = writeMemory.getByteBuffer(0, RING_BYTES).order(ByteOrder.nativeOrder());
        writeFloats = writeBytes.asFloatBuffer();
        writeInts = writeBytes.asIntBuffer();
        ByteBuffer readBytes = readMemory.getByteBuffer(0, RING_BYTES).order(ByteOrder.nativeOrder());
        readFloats = readBytes.asFloatBuffer();
        readInts = readBytes.asIntBuffer();
    }

    /** Host synchronisations so far: reads, and writes that found the ring full. */
    public long synchronizations() {
        return synchronizations;
    }

    /** Host-to-device copies enqueued so far (one per ring-sized chunk of a write). */
    public long hostToDeviceCopies() {
        return hostToDeviceCopies;
    }

    /** The ring offset (bytes) for a write of {@code bytes}, waiting for the stream when the ring is full. */
    private int reserve(int bytes) {
        if (cursor + bytes > RING_BYTES) {
            synchronize("waiting for host-to-device copies (the staging ring is full)");
        }
        int at = cursor;
        cursor += (bytes + GRANULE - 1) / GRANULE * GRANULE;
        return at;
    }

    private void synchronize(String what) {
        synchronizations++;
        Driver.check(cuStreamSynchronize(stream), what + "; a kernel enqueued before may have failed");
        cursor = 0;  // the stream is idle: every copy out of the ring has ended
    }

    /** Enqueues the copy of src[srcOffset, srcOffset + count) into dst; returns before it ends. */
    public void writeFloats(CudaTensor dst, float[] src, int srcOffset, int count) {
        write(dst, src, null, srcOffset, count);
    }

    /** Enqueues the copy of src[srcOffset, srcOffset + count) into dst; returns before it ends. */
    public void writeInts(CudaTensor dst, int[] src, int srcOffset, int count) {
        write(dst, null, src, srcOffset, count);
    }

    /** Copies src (count elements) into dst[dstOffset..] after all enqueued work: waits for the stream. */
    public void readFloats(float[] dst, int dstOffset, CudaTensor src, int count) {
        read(dst, null, dstOffset, src, count);
    }

    public void readInts(int[] dst, int dstOffset, CudaTensor src, int count) {
        read(null, dst, dstOffset, src, count);
    }

    /** Through the ring, in chunks of at most the ring: from floats or (floats null) from ints. */
    private void write(CudaTensor dst, float[] floats, int[] ints, int srcOffset, int count) {
        int perChunk = RING_BYTES / 4;
        for (int done = 0; done < count; done += perChunk) {
            int n = Math.min(perChunk, count - done);
            int at = reserve(4 * n);
            if (floats != null) {
                writeFloats.put(at / 4, floats, srcOffset + done, n);
            } else {
                writeInts.put(at / 4, ints, srcOffset + done, n);
            }
            DevicePointer target = devicePointers.at(dst.allocation(), dst.address() + 4L * done);
            Driver.check(cuMemcpyHtoDAsync(target, granules[at / GRANULE], 4L * n, stream), "copying to the GPU");
            hostToDeviceCopies++;
        }
    }

    /** Through the read buffer, in chunks of at most its size: into floats or (floats null) into ints. */
    private void read(float[] floats, int[] ints, int dstOffset, CudaTensor src, int count) {
        int perChunk = RING_BYTES / 4;
        for (int done = 0; done < count; done += perChunk) {
            int n = Math.min(perChunk, count - done);
            DevicePointer source = devicePointers.at(src.allocation(), src.address() + 4L * done);
            Driver.check(cuMemcpyDtoHAsync(readMemory, source, 4L * n, stream), "copying from the GPU");
            synchronize("waiting for the GPU to finish the work before a read");
            if (floats != null) {
                readFloats.get(0, floats, dstOffset + done, n);
            } else {
                readInts.get(0, ints, dstOffset + done, n);
            }
        }
    }

    /** Forgets the device pointers (their memory is being freed). */
    public void forgetDevicePointers() {
        devicePointers.clear();
    }

    @Override
    public void close() {
        cuMemFreeHost(writeMemory);
        cuMemFreeHost(readMemory);
    }
}
