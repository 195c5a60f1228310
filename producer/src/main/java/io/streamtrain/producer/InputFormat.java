package io.streamtrain.producer;

import java.util.Locale;

/** How a source's (decompressed) bytes hold documents. */
public enum InputFormat {
    /** Decide per source: by suffix (.jsonl .ndjson .json vs .txt .text .md, before any .gz), else by content. */
    AUTO,
    /** The whole source is one document. */
    TEXT,
    /** One JSON object per line with a string {@code text} field (SlimPajama/RedPajama style). */
    JSONL;

    public static InputFormat parse(String value) {
        return valueOf(value.trim().toUpperCase(Locale.ROOT));
    }

    /** The format a file name implies, or {@link #AUTO} when its suffix says nothing. */
    public static InputFormat fromName(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (lower.endsWith(".gz")) {
            lower = lower.substring(0, lower.length() - 3);
        }
        if (lower.endsWith(".jsonl") || lower.endsWith(".ndjson") || lower.endsWith(".json")) {
            return JSONL;
        }
        if (lower.endsWith(".txt") || lower.endsWith(".text") || lower.endsWith(".md")) {
            return TEXT;
        }
        return AUTO;
    }
}
