package io.streamtrain.model;

/**
 * Global batches for the data-parallel tests of every module (model, model-cuda, trainer; in the model's test-jar):
 * rows of ids (rows, T+1) of a pattern that changes with the step, row {@code first} of the global batch first, so
 * that a world's shares put together are the one model's batch.
 */
public final class PatternRows {
    private PatternRows() {
    }

    /** Rows {@code first .. first + rows - 1} of global batch {@code step}, (rows, T+1), ids in [2, 15). */
    public static int[] rows(int T, int step, int first, int rows) {
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) {
            int position = first * (T + 1) + i;
            tokens[i] = (position * 7 + step * 5 + position / (T + 1) * 3) % 13 + 2;
        }
        return tokens;
    }

    /** A batch (rows, T+1) that repeats a short pattern (ids in [3, 14)), so that a few steps teach a model something. */
    public static int[] repeating(int rows, int T, int shift) {
        int[] tokens = new int[rows * (T + 1)];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7 + shift) % 11 + 3;
        }
        return tokens;
    }
}
