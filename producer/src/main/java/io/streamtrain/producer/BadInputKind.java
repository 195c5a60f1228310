package io.streamtrain.producer;

/** The kinds of bad input the producer skips, counts and reports (never fatal on their own). */
public enum BadInputKind {
    /** A file or directory that could not be opened or read to its end (permissions, corrupt gzip, I/O error). */
    UNREADABLE_FILE("unreadable file"),
    /** A JSON Lines line that is not a JSON object. */
    INVALID_JSON("invalid JSON"),
    /** A JSON object without a string {@code text} field. */
    MISSING_TEXT("missing text field"),
    /** Bytes that are not valid UTF-8 (decoded strictly, never replaced). */
    INVALID_UTF8("invalid UTF-8"),
    /** A document whose text is empty or only whitespace. */
    EMPTY_DOCUMENT("empty document"),
    /** A document (a JSON Lines line, a text file) larger than {@code max.document.bytes}. */
    DOCUMENT_TOO_LARGE("document too large");

    private final String description;

    BadInputKind(String description) {
        this.description = description;
    }

    /** Human words for reports, e.g. "invalid JSON". */
    public String description() {
        return description;
    }
}
