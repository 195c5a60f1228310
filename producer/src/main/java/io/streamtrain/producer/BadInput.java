package io.streamtrain.producer;

/**
 * One skipped piece of input.
 *
 * @param kind    what was wrong
 * @param source  the file (as given or found under a directory) or {@code stdin}
 * @param line    1-based line number within the (decompressed) source; 0 when the problem concerns the whole source
 * @param message details, e.g. the JSON parser's message or the byte offset of invalid UTF-8
 */
public record BadInput(BadInputKind kind, String source, long line, String message) {

    /** Where, as {@code source:line} or {@code source} alone for whole-source problems. */
    public String location() {
        return line > 0 ? source + ":" + line : source;
    }

    @Override
    public String toString() {
        return location() + ": " + kind.description() + ": " + message;
    }
}
