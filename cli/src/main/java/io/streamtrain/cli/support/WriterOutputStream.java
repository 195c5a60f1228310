package io.streamtrain.cli.support;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/**
 * Bytes written to this stream go to a {@link PrintWriter} as UTF-8 text, a prefix before each line: lets
 * components that print to a {@code PrintStream} (the producer's progress, {@code Backends.open}) print into a
 * command's output. Text is passed on at each end of line, carriage return (a progress bar redrawn in place) and
 * flush.
 */
public final class WriterOutputStream extends OutputStream {
    private final PrintWriter out;
    private final String prefix;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private boolean atLineStart = true;

    public WriterOutputStream(PrintWriter out, String prefix) {
        this.out = out;
        this.prefix = prefix;
    }

    /** An autoflushing UTF-8 PrintStream onto {@code out}, each line starting with {@code prefix}. */
    public static PrintStream printStream(PrintWriter out, String prefix) {
        return new PrintStream(new WriterOutputStream(out, prefix), true, StandardCharsets.UTF_8);
    }

    @Override
    public synchronized void write(int b) {
        pending.write(b);
        if (b == '\n' || b == '\r') {
            flush();
        }
    }

    @Override
    public synchronized void write(byte[] bytes, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            write(bytes[i]);
        }
    }

    @Override
    public synchronized void flush() {
        if (pending.size() > 0) {
            if (atLineStart) {
                out.print(prefix);
            }
            String text = pending.toString(StandardCharsets.UTF_8);
            out.print(text);
            atLineStart = text.endsWith("\n") || text.endsWith("\r");
            pending.reset();
        }
        out.flush();
    }

    @Override
    public void close() {
        flush();
    }
}
