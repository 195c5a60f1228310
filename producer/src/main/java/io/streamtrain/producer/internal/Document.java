package io.streamtrain.producer.internal;

import java.util.Map;

/**
 * One document read from an input, before tokenization.
 *
 * @param id       the JSON {@code id} field when present, else {@code source:line} (JSON Lines) or the source (text)
 * @param source   the file the document was read from, or {@code stdin}
 * @param line     1-based line of a JSON Lines document; 0 for a whole-file text document
 * @param text     the text, strictly decoded UTF-8, never empty
 * @param metadata the other fields of a JSON Lines object (scalars as text, objects and arrays as JSON), in order
 */
public record Document(String id, String source, long line, String text, Map<String, String> metadata) {}
