package io.streamtrain.model;

import java.util.Objects;

/**
 * Identity of the tokenizer a model was trained with, stored in every checkpoint so that a model is
 * never resumed with ids that mean something else.
 *
 * @param name           the tokenizer's name, e.g. {@code byte} or {@code cl100k_base}
 * @param vocabularySize V, the number of ids the tokenizer produces
 * @param fingerprint    a digest of the tokenizer's tables (empty where the name says it all)
 */
public record TokenizerIdentity(String name, int vocabularySize, String fingerprint) {

    public TokenizerIdentity {
        Objects.requireNonNull(name, "tokenizer name");
        Objects.requireNonNull(fingerprint, "tokenizer fingerprint (use \"\" when there is none)");
        if (name.isBlank()) {
            throw new IllegalArgumentException("tokenizer name must not be blank");
        }
        if (vocabularySize <= 0) {
            throw new IllegalArgumentException("tokenizer '" + name + "': vocabulary size must be positive, got "
                    + vocabularySize);
        }
    }
}
