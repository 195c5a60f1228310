package io.streamtrain.model;

import io.streamtrain.model.internal.TokenChecks;
import java.util.Arrays;

/**
 * A batch of ids (B, T+1) row-major, inputs [:, :T] and targets [:, 1:], checked once against a model's shape:
 * 0 < T <= the context length, B (T+1) ids, every id in [0, V). {@link Gpt}, {@link DataParallelGpt} and
 * {@link EvaluationSet} take it without checking its ids again, so a caller that checks its input where it can name
 * it (the trainer names the record) checks through {@link #check} and every id is checked once. The array is not
 * copied: leave it unchanged while the batch is in use.
 */
public final class CheckedTokens {
    private final int[] ids;
    private final int rows;
    private final int sequenceLength;
    private final int vocabularySize;

    private CheckedTokens(int[] ids, int rows, int sequenceLength, int vocabularySize) {
        this.ids = ids;
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.vocabularySize = vocabularySize;
    }

    /**
     * Checks {@code ids} (B, T+1) for a model of {@code config}; B may be 0 (a replica with nothing to give).
     *
     * @throws IllegalArgumentException      when the shape does not fit the model
     * @throws TokenIdOutOfRangeException when an id is outside [0, V), naming the first and its index
     */
    public static CheckedTokens check(GptConfig config, int[] ids, int B, int T) {
        if (B < 0) {
            throw new IllegalArgumentException("batch (B=" + B + ", T=" + T + ") must have B >= 0");
        }
        TokenChecks.checkShape(config, ids, B, T);
        TokenChecks.checkIds(config, ids, 0, ids.length, "tokens");
        return new CheckedTokens(ids, B, T, config.vocabularySize());
    }

    /** The ids, (B, T+1) row-major (not a copy). */
    public int[] ids() { return ids; }

    /** B. */
    public int rows() { return rows; }

    /** T. */
    public int sequenceLength() { return sequenceLength; }

    /** The same batch on its own array, for a caller that reuses the one it checked. */
    public CheckedTokens copy() {
        return new CheckedTokens(ids.clone(), rows, sequenceLength, vocabularySize);
    }

    /** Rows [from, from + count) as a batch of their own (copied). */
    CheckedTokens rows(int from, int count) {
        int width = sequenceLength + 1;
        return new CheckedTokens(Arrays.copyOfRange(ids, from * width, (from + count) * width), count,
                sequenceLength, vocabularySize);
    }

    /** Refuses a batch checked for a model of another vocabulary or a shorter context. */
    void requireFits(GptConfig config) {
        if (vocabularySize != config.vocabularySize() || sequenceLength > config.contextLength()) {
            throw new IllegalArgumentException("a batch checked for a vocabulary of " + vocabularySize + " ids and T="
                    + sequenceLength + " does not fit a model of V=" + config.vocabularySize() + " and context length "
                    + config.contextLength() + "; check it for this model");
        }
    }
}
