package io.streamtrain.schemas;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Token ids <-> the little-endian bytes of {@code TokenBatch.tokens}; decoding costs nothing per token beyond the
 * copy (one bulk {@code IntBuffer.get}).
 */
public final class TokenIds {
    private TokenIds() {}

    /** Packs {@code ids[offset, offset + length)} as little-endian int32; the result is positioned at 0. */
    public static ByteBuffer encode(int[] ids, int offset, int length) {
        if (offset < 0 || length < 0 || offset > ids.length - length) {
            throw new IndexOutOfBoundsException("ids range [" + offset + ", " + offset + " + " + length
                    + ") is outside an array of " + ids.length + " ids");
        }
        ByteBuffer bytes = ByteBuffer.allocate(Integer.BYTES * length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asIntBuffer().put(ids, offset, length);
        return bytes;
    }

    /** Number of ids in {@code bytes} (its remaining bytes / 4); fails when the length is not a multiple of 4. */
    public static int count(ByteBuffer bytes) {
        int remaining = bytes.remaining();
        if (remaining % Integer.BYTES != 0) {
            throw new IllegalArgumentException("token bytes hold " + remaining
                    + " bytes, not a multiple of 4: not little-endian int32 token ids");
        }
        return remaining / Integer.BYTES;
    }

    /**
     * Unpacks the remaining bytes of {@code bytes} into {@code dst}; {@code dst.length} must equal
     * {@code bytes.remaining() / 4}. The position of {@code bytes} is left unchanged.
     */
    public static void decode(ByteBuffer bytes, int[] dst) {
        int count = count(bytes);
        if (dst.length != count) {
            throw new IllegalArgumentException("token bytes hold " + count + " ids but the destination holds "
                    + dst.length + "; allocate int[" + count + "] (TokenIds.count)");
        }
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(dst);
    }

    /** Unpacks the remaining bytes of {@code bytes} into a new array. */
    public static int[] decode(ByteBuffer bytes) {
        int[] ids = new int[count(bytes)];
        decode(bytes, ids);
        return ids;
    }
}
