package io.streamtrain.cli.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;

/**
 * A log file that also shows a few of its lines on the console: those starting with one of the given prefixes
 * (the demo shows the trainer's {@code backend: ...} choice, and keeps the rest of the trainer's output in
 * trainer.log).
 */
public final class EchoingLog extends OutputStream {
    private final OutputStream file;
    private final PrintWriter console;
    private final String[] prefixes;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();

    public EchoingLog(OutputStream file, PrintWriter console, String... prefixes) {
        this.file = file;
        this.console = console;
        this.prefixes = prefixes.clone();
    }

    @Override
    public synchronized void write(int b) throws IOException {
        file.write(b);
        if (b == '\n') {
            echo(line.toString(StandardCharsets.UTF_8));
            line.reset();
        } else {
            line.write(b);
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        file.flush();
    }

    @Override
    public synchronized void close() throws IOException {
        file.close();
    }

    private void echo(String text) {
        for (String prefix : prefixes) {
            if (text.startsWith(prefix)) {
                console.println(text.stripTrailing());
                console.flush();
                return;
            }
        }
    }
}
