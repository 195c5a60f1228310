package io.streamtrain.model;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Everything a checkpoint holds, on the host.
 *
 * @param config     the model's shape
 * @param tokenizer  the tokenizer the model was trained with
 * @param step       optimizer steps applied so far
 * @param rngState   the state of the model's random generator (see {@link Gpt})
 * @param parameters the flat layout in {@link ParameterTensor} order, length {@code config.parameterCount()}
 * @param m          AdamW first moments, same layout
 * @param v          AdamW second moments, same layout
 * @param metadata   free-form strings (the trainer stores Kafka offsets there), kept in insertion order
 */
public record Checkpoint(GptConfig config, TokenizerIdentity tokenizer, long step, long rngState,
                         float[] parameters, float[] m, float[] v, Map<String, String> metadata) {

    public Checkpoint {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(metadata, "metadata");
        if (step < 0) {
            throw new IllegalArgumentException("checkpoint step must not be negative, got " + step);
        }
        long n = config.parameterCount();
        requireLength("parameters", parameters, n);
        requireLength("AdamW first moments m", m, n);
        requireLength("AdamW second moments v", v, n);
        Map<String, String> copy = new LinkedHashMap<>();
        metadata.forEach((key, value) -> copy.put(Objects.requireNonNull(key, "metadata key"),
                Objects.requireNonNull(value, () -> "metadata value of '" + key + "'")));
        metadata = Collections.unmodifiableMap(copy);
    }

    private static void requireLength(String what, float[] array, long expected) {
        Objects.requireNonNull(array, what);
        if (array.length != expected) {
            throw new IllegalArgumentException("checkpoint " + what + " has " + array.length
                    + " elements, the config needs " + expected);
        }
    }
}
