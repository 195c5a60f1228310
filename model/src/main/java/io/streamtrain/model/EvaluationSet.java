package io.streamtrain.model;

import java.util.Objects;

/**
 * Evaluation batches kept resident in a backend: the inputs and targets of up to {@link #capacity()} batches of shape
 * (B, T), uploaded once each by {@link #add}, and evaluated together by {@link Gpt#evaluate(EvaluationSet)} with no
 * upload and one host synchronisation. Made by {@link Gpt#evaluationSet}; its memory lives as long as the backend.
 * Not thread-safe.
 */
public final class EvaluationSet {
    private final Kernels kernels;
    private final GptConfig config;
    private final int rows;
    private final int sequenceLength;
    private final int capacity;
    final IntTensor inputs;   // (capacity, B, T)
    final IntTensor targets;  // (capacity, B, T)
    final Tensor sums;        // (2) loss and accuracy summed over the batches
    private int size;

    EvaluationSet(Kernels kernels, GptConfig config, int rows, int sequenceLength, int capacity) {
        this.kernels = kernels;
        this.config = config;
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.capacity = capacity;
        long positions = (long) capacity * rows * sequenceLength;
        this.inputs = kernels.allocateInts(positions);
        this.targets = kernels.allocateInts(positions);
        this.sums = kernels.allocate(2);
    }

    /**
     * Uploads one more batch, {@code tokens} (B, T+1) row-major as in training.
     *
     * @throws IllegalStateException    when the set is full
     * @throws IllegalArgumentException when the shape is not (B, T+1) or an id is outside the vocabulary
     */
    public void add(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        if (tokens.length != rows * (sequenceLength + 1)) {
            throw new IllegalArgumentException("an evaluation batch must be (B, T+1) = (" + rows + ", "
                    + (sequenceLength + 1) + ") ids, got " + tokens.length);
        }
        add(CheckedTokens.check(config, tokens, rows, sequenceLength));
    }

    /**
     * Uploads one more batch of ids already checked (not checked again).
     *
     * @throws IllegalStateException    when the set is full
     * @throws IllegalArgumentException when its shape is not the set's (B, T)
     */
    public void add(CheckedTokens batch) {
        if (size == capacity) {
            throw new IllegalStateException("the evaluation set is full (" + capacity + " batches)");
        }
        batch.requireFits(config);
        int T = sequenceLength;
        if (batch.rows() != rows || batch.sequenceLength() != T) {
            throw new IllegalArgumentException("an evaluation batch must be (B, T+1) = (" + rows + ", " + (T + 1)
                    + ") ids, got B=" + batch.rows() + ", T=" + batch.sequenceLength());
        }
        int[] tokens = batch.ids();
        long batchStart = (long) size * rows * T;
        for (int b = 0; b < rows; b++) {
            kernels.writeInts(inputs.slice(batchStart + (long) b * T, T), tokens, b * (T + 1), T);
            kernels.writeInts(targets.slice(batchStart + (long) b * T, T), tokens, b * (T + 1) + 1, T);
        }
        size++;
    }

    /** Batches uploaded so far. */
    public int size() {
        return size;
    }

    public int capacity() {
        return capacity;
    }

    public boolean isFull() {
        return size == capacity;
    }

    /** B. */
    public int rows() {
        return rows;
    }

    /** T. */
    public int sequenceLength() {
        return sequenceLength;
    }

    /** Positions the set covers: batches * B * T. */
    public long tokens() {
        return (long) size * rows * sequenceLength;
    }

    IntTensor inputs(int batch) {
        return inputs.slice((long) batch * rows * sequenceLength, (long) rows * sequenceLength);
    }

    IntTensor targets(int batch) {
        return targets.slice((long) batch * rows * sequenceLength, (long) rows * sequenceLength);
    }
}
