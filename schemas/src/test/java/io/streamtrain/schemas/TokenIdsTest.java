package io.streamtrain.schemas;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TokenIdsTest {

    @Test
    void shouldRoundTripRandomIdsThroughLittleEndianBytes() {
        int[] ids = new Random(7).ints(10_000, 0, 1 << 20).toArray();
        ids[0] = Integer.MAX_VALUE;
        ByteBuffer bytes = TokenIds.encode(ids, 0, ids.length);
        assertEquals(4 * ids.length, bytes.remaining());
        int[] decoded = new int[TokenIds.count(bytes)];
        TokenIds.decode(bytes, decoded);
        assertArrayEquals(ids, decoded);
    }

    @Test
    void shouldWriteIdsLittleEndian() {
        ByteBuffer bytes = TokenIds.encode(new int[] {9, 0x01020304, 50256}, 1, 2);
        byte[] raw = new byte[bytes.remaining()];
        bytes.duplicate().get(raw);
        assertArrayEquals(new byte[] {4, 3, 2, 1, 0x50, (byte) 0xC4, 0, 0}, raw);
    }

    @Test
    void shouldDecodeFromTheBufferPositionAndLeaveItUnchanged() {
        ByteBuffer bytes = ByteBuffer.allocate(12);
        bytes.put(new byte[] {99, 99, 99, 99, 1, 0, 0, 0, 2, 0, 0, 0}).position(4);
        assertArrayEquals(new int[] {1, 2}, TokenIds.decode(bytes));
        assertEquals(4, bytes.position());
    }

    @Test
    void shouldRejectADestinationOfTheWrongLength() {
        ByteBuffer bytes = TokenIds.encode(new int[] {1, 2, 3}, 0, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TokenIds.decode(bytes, new int[2]));
        assertTrue(e.getMessage().contains("hold 3 ids") && e.getMessage().contains("holds 2"), e.getMessage());
    }

    @Test
    void shouldRejectBytesThatAreNotWholeInt32s() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TokenIds.decode(ByteBuffer.wrap(new byte[7])));
        assertTrue(e.getMessage().contains("7 bytes, not a multiple of 4"), e.getMessage());
    }

    @Test
    void shouldRejectARangeOutsideTheArray() {
        assertThrows(IndexOutOfBoundsException.class, () -> TokenIds.encode(new int[3], 2, 2));
    }
}
