package io.streamtrain.producer.internal;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * UTF-8 decoding that reports instead of replacing ({@link CodingErrorAction#REPORT}) and says where the first bad
 * byte is. One instance per thread: a {@link CharsetDecoder} is stateful.
 */
public final class StrictUtf8 {
    /** Thrown with the offset of the first byte that is not valid UTF-8, relative to the decoded range. */
    public static final class InvalidUtf8Exception extends Exception {
        private final int byteOffset;

        InvalidUtf8Exception(int byteOffset) {
            super("invalid UTF-8 at byte " + byteOffset, null, false, false);
            this.byteOffset = byteOffset;
        }

        public int byteOffset() {
            return byteOffset;
        }
    }

    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);

    /** Decodes {@code bytes[offset, offset + length)}; a leading byte-order mark is dropped. */
    public String decode(byte[] bytes, int offset, int length) throws InvalidUtf8Exception {
        ByteBuffer in = ByteBuffer.wrap(bytes, offset, length);
        CharBuffer out = CharBuffer.allocate(length); // UTF-8 never yields more chars than bytes
        decoder.reset();
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            throw new InvalidUtf8Exception(in.position() - offset);
        }
        out.flip();
        if (out.hasRemaining() && out.get(0) == '\uFEFF') {
            out.position(1);
        }
        return out.toString();
    }
}
