package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * The tensor maps of the products' bf16 operands (2-D, row-major, 128-byte swizzle, zero fill outside the tensor), kept
 * in device memory so that a kernel takes one as an 8-byte address, which step graphs compare and update like any
 * pointer. A map is encoded ({@link TensorMapLibrary}) the first time its operand (address, sizes, row stride, box) is
 * read and copied up on the stream, so it is in place before the kernel that reads it, in direct launches and in
 * a step graph's replay alike; later reads find it in a hash table of primitive arrays (nothing is allocated per
 * product). Slots are never reused: the memory grows by chunks of {@value #CHUNK_MAPS} maps (128 KiB), allocated
 * like the bf16 copies (also inside a step), and freed with the kernels. Not thread-safe.
 */
public final class TensorMaps {
    /** Bytes of one {@code CUtensorMap} (64-byte aligned in memory). */
    public static final int MAP_BYTES = 128;
    private static final int CHUNK_MAPS = 1024;

    private final LongFunction<CudaTensor> allocate;
    private final Launcher launcher;
    private TensorMapLibrary library;
    private final List<CudaTensor> chunks = new ArrayList<>();
    private final List<ByteBuffer> hostChunks = new ArrayList<>();
    private int count;
    // the key of map i: address, columns (innermost), rows, row stride in bytes, box (columns << 16 | rows)
    private long[] keys = new long[5 * CHUNK_MAPS];
    private long[] addresses = new long[CHUNK_MAPS];  // device address of map i
    private int[] table = new int[4 * CHUNK_MAPS];   // open addressing: map index + 1, 0 where free

    /** {@code allocate}: device memory of that many floats; copies go on the stream of {@code launcher}'s kernels. */
    public TensorMaps(LongFunction<CudaTensor> allocate, Launcher launcher) {
        this.allocate = allocate;
        this.launcher = launcher;
    }

    /**
     * The device address of the tensor map of a bf16 matrix at {@code address} of {@code rows} rows of
     * {@code columns} elements, {@code rowStride} elements apart (a multiple of 8; address 16-byte aligned), read in
     * boxes of {@code boxColumns} (64: one 128-byte swizzle row) x {@code boxRows} (at most 256).
     */
    public long map(long address, long columns, long rows, long rowStride, int boxColumns, int boxRows) {
        long strideBytes = 2 * rowStride;
        long box = (long) boxColumns << 16 | boxRows;
        int mask = table.length - 1;
        int h = hash(address, columns, rows, strideBytes, box) & mask;
        for (int entry = table[h]; entry != 0; entry = table[h = (h + 1) & mask]) {
            int k = 5 * (entry - 1);
            if (keys[k] == address && keys[k + 1] == columns && keys[k + 2] == rows && keys[k + 3] == strideBytes
                    && keys[k + 4] == box) {
                return addresses[entry - 1];
            }
        }
        return add(address, columns, rows, strideBytes, box, boxColumns, boxRows);
    }

    private long add(long address, long columns, long rows, long strideBytes, long box, int boxColumns, int boxRows) {
        if ((address & 15) != 0 || (strideBytes & 15) != 0) {
            throw new IllegalArgumentException("a tensor map needs a 16-byte aligned address and row stride, got address 0x"
                    + Long.toHexString(address) + ", row stride " + strideBytes + " bytes");
        }
        int index = count;
        int slot = index % CHUNK_MAPS;
        if (slot == 0) {
            chunks.add(allocate.apply(CHUNK_MAPS * MAP_BYTES / 4));
            hostChunks.add(ByteBuffer.allocateDirect(CHUNK_MAPS * MAP_BYTES));
            // the allocation's zero fill runs on the legacy stream, unordered with ours: let it finish first
            Driver.check(cuCtxSynchronize(), "waiting for a new allocation of tensor maps");
        }
        if (library == null) {
            library = TensorMapLibrary.load();
        }
        CudaTensor chunk = chunks.get(index / CHUNK_MAPS);
        ByteBuffer host = hostChunks.get(index / CHUNK_MAPS);
        long offset = (long) slot * MAP_BYTES;
        int result = library.cuTensorMapEncodeTiled(Native.getDirectBufferPointer(host).share(offset),
                TensorMapLibrary.BFLOAT16, 2, new Pointer(address), new long[] {columns, rows}, new long[] {strideBytes},
                new int[] {boxColumns, boxRows}, new int[] {1, 1}, TensorMapLibrary.INTERLEAVE_NONE,
                TensorMapLibrary.SWIZZLE_128B, TensorMapLibrary.L2_PROMOTION_256B, TensorMapLibrary.OOB_FILL_ZERO);
        Driver.check(result, "encoding the tensor map of a " + rows + " x " + columns + " bf16 matrix (row stride "
                + strideBytes + " bytes, box " + boxRows + " x " + boxColumns + ")");
        // the host slot is never written again, so the asynchronous copy may read it whenever it runs
        Driver.check(cuMemcpyHtoDAsync(chunk.allocation().offset(offset), jcuda.Pointer.to(host).withByteOffset(offset),
                MAP_BYTES, launcher.stream()), "copying a tensor map to the device");
        count++;
        if (count > addresses.length) {
            addresses = java.util.Arrays.copyOf(addresses, 2 * addresses.length);
            keys = java.util.Arrays.copyOf(keys, 2 * keys.length);
        }
        addresses[index] = chunk.address() + offset;
        long[] key = {address, columns, rows, strideBytes, box};
        System.arraycopy(key, 0, keys, 5 * index, 5);
        if (4 * count > table.length) {
            table = new int[2 * table.length];
            for (int i = 0; i < count; i++) {
                insert(i);
            }
        } else {
            insert(index);
        }
        return addresses[index];
    }

    private void insert(int index) {
        int mask = table.length - 1;
        int k = 5 * index;
        int h = hash(keys[k], keys[k + 1], keys[k + 2], keys[k + 3], keys[k + 4]) & mask;
        while (table[h] != 0) {
            h = (h + 1) & mask;
        }
        table[h] = index + 1;
    }

    /** Maps made so far (one per operand address and shape). */
    public int count() {
        return count;
    }

    private static int hash(long address, long columns, long rows, long strideBytes, long box) {
        long h = address * 0x9E3779B97F4A7C15L;
        h = (h ^ columns) * 0xC2B2AE3D27D4EB4FL;
        h = (h ^ rows) * 0x165667B19E3779F9L;
        h = (h ^ strideBytes ^ box << 32) * 0x9E3779B97F4A7C15L;
        return (int) (h ^ h >>> 32);
    }
}
