package io.streamtrain.producer.internal;

import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;

/**
 * Reads lines as raw bytes (so that invalid UTF-8 can be reported with its line), ending at {@code \n} with an
 * optional {@code \r} before it dropped. Lines may be of any length; of a line longer than the limit only its first
 * {@code limit} bytes are kept (its whole length is still known), so that one huge line does not take the memory.
 */
public final class ByteLineReader {
    private final InputStream in;
    private final int limit;
    private final byte[] buffer = new byte[1 << 16];
    private int position;
    private int end;
    private byte[] line = new byte[1 << 12];
    private int lineLength;
    private long fullLength;
    private boolean terminated;
    private long lineNumber;
    private long lineStart;
    private long consumed;

    /** A reader that keeps every byte of every line. */
    public ByteLineReader(InputStream in) {
        this(in, Integer.MAX_VALUE - 8);
    }

    /** @param limit bytes of a line kept at most; see {@link #overflowed()} */
    public ByteLineReader(InputStream in, int limit) {
        this.in = in;
        this.limit = limit;
    }

    /** Reads the next line into {@link #bytes()}/{@link #length()}; false at the end of the stream. */
    public boolean next() throws IOException {
        lineStart = consumed;
        lineLength = 0;
        fullLength = 0;
        terminated = false;
        boolean any = false;
        while (true) {
            if (position == end) {
                end = in.read(buffer, 0, buffer.length);
                position = 0;
                if (end <= 0) {
                    end = 0;
                    if (!any) {
                        return false;
                    }
                    break;
                }
            }
            any = true;
            int start = position;
            while (position < end && buffer[position] != '\n') {
                position++;
            }
            append(start, position - start);
            if (position < end) {
                position++; // the '\n'
                consumed++;
                terminated = true;
                break;
            }
        }
        if (!overflowed() && lineLength > 0 && line[lineLength - 1] == '\r') {
            lineLength--;
            fullLength--;
        }
        lineNumber++;
        return true;
    }

    private void append(int start, int count) {
        consumed += count;
        fullLength += count;
        int kept = (int) Math.min(count, Math.max(0, limit - (long) lineLength));
        if (kept == 0) {
            return;
        }
        if (lineLength + kept > line.length) {
            line = Arrays.copyOf(line, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(line.length * 2L, lineLength + kept)));
        }
        System.arraycopy(buffer, start, line, lineLength, kept);
        lineLength += kept;
    }

    /** The current line's bytes, valid in {@code [0, length())} until the next call to {@link #next()}. */
    public byte[] bytes() {
        return line;
    }

    /** Bytes of the current line kept: all of them, or the first {@code limit} when it {@link #overflowed()}. */
    public int length() {
        return lineLength;
    }

    /** Whether the current line is longer than the limit (then only its first {@code limit} bytes are kept). */
    public boolean overflowed() {
        return fullLength > limit;
    }

    /** The current line's whole length in bytes, without its line end. */
    public long fullLength() {
        return fullLength;
    }

    /** Whether the current line ended with {@code \n} (the last line of a stream may not). */
    public boolean terminated() {
        return terminated;
    }

    /** 1-based number of the current line. */
    public long lineNumber() {
        return lineNumber;
    }

    /** Bytes of the stream before the current line. */
    public long lineStart() {
        return lineStart;
    }

    /** Bytes of the stream up to the end of the current line, its line end included. */
    public long consumed() {
        return consumed;
    }
}
