package io.streamtrain.producer.internal;

import java.nio.file.Path;

/**
 * A file to read, or standard input.
 *
 * @param name      how reports name it: the path as given or found under a directory, or {@code stdin}
 * @param path      the file; null for standard input
 * @param sizeBytes the file's size on disk (compressed size for gzip), -1 when unknown (stdin)
 */
public record InputSource(String name, Path path, long sizeBytes) {
    public static final String STDIN = "stdin";

    public static InputSource stdin() {
        return new InputSource(STDIN, null, -1);
    }

    public static InputSource file(Path path, long sizeBytes) {
        return new InputSource(path.toString(), path, sizeBytes);
    }

    public boolean isStdin() {
        return path == null;
    }
}
