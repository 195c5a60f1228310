package io.streamtrain.model.internal;

import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenIdOutOfRangeException;
import java.util.Objects;

/** The checks of the ids given to a model: a batch's shape, and every id inside the vocabulary. */
public final class TokenChecks {

    private TokenChecks() {
    }

    /** {@code tokens} is (B, T+1) with 0 < T <= the context length. */
    public static void checkShape(GptConfig config, int[] tokens, int B, int T) {
        Objects.requireNonNull(tokens, "tokens");
        if (T <= 0 || T > config.contextLength()) {
            throw new IllegalArgumentException("batch (B=" + B + ", T=" + T + ") must have 0 < T <= "
                    + config.contextLength() + " (the context length)");
        }
        if (tokens.length != B * (T + 1)) {
            throw new IllegalArgumentException("tokens must be (B, T+1) = (" + B + ", " + (T + 1) + ") = "
                    + B * (T + 1) + " ids, got " + tokens.length);
        }
    }

    /** Every id of {@code ids[from, to)} is in [0, V); the message names the first that is not, as {@code what[i]}. */
    public static void checkIds(GptConfig config, int[] ids, int from, int to, String what) {
        int vocabulary = config.vocabularySize();
        for (int i = from; i < to; i++) {
            if (ids[i] < 0 || ids[i] >= vocabulary) {
                throw new TokenIdOutOfRangeException(what, i, ids[i], vocabulary);
            }
        }
    }
}
