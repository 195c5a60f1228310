package io.streamtrain.producer.internal;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Shuffled batches: takes rows (one-row batches of T+1 tokens, from a {@link TokenPacker} of one row) and publishes
 * batches of B rows drawn at random from a buffer of {@code capacity} rows. Until the buffer is full rows only enter
 * it; then each new row replaces a random one, which goes into the batch being assembled; {@link #drain()} empties the
 * buffer in random order at the end of the input (a last batch that does not fill is dropped and counted in
 * {@link #droppedRows()}). The draws come from a SplitMix64 stream seeded with {@code seed}, so the same input gives
 * the same batches. A batch's documents are those of its rows, in row order. Not thread-safe.
 */
public final class RowShuffler {
    private final int rows;
    private final int sequenceLength;
    private final PackedBatch[] buffer;
    private final Consumer<PackedBatch> sink;
    private final List<PackedBatch> pending = new ArrayList<>();
    private int size;
    private long state;
    private long nextSequence;
    private long batches;

    /**
     * @param rows           B
     * @param sequenceLength T
     * @param capacity       rows held in the buffer, at least 1
     * @param seed           seeds the draws
     * @param firstSequence  sequence number of the first batch
     * @param sink           receives every full batch
     */
    public RowShuffler(int rows, int sequenceLength, int capacity, long seed, long firstSequence,
                       Consumer<PackedBatch> sink) {
        if (capacity < 1) {
            throw new IllegalArgumentException("a shuffle buffer needs at least 1 row, got " + capacity);
        }
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.buffer = new PackedBatch[capacity];
        this.state = seed;
        this.nextSequence = firstSequence;
        this.sink = sink;
    }

    /** Takes one row ({@code row.rows() == 1}); may publish a batch. */
    public void accept(PackedBatch row) {
        if (row.rows() != 1 || row.sequenceLength() != sequenceLength) {
            throw new IllegalArgumentException("the shuffler takes rows of T+1 = " + (sequenceLength + 1)
                    + " tokens, got (" + row.rows() + ", " + (row.sequenceLength() + 1) + ")");
        }
        if (size < buffer.length) {
            buffer[size++] = row;
            return;
        }
        int pick = nextIndex(size);
        PackedBatch out = buffer[pick];
        buffer[pick] = row;
        take(out);
    }

    /** Publishes what the buffer holds, in random order, as full batches. */
    public void drain() {
        while (size > 0) {
            int pick = nextIndex(size);
            PackedBatch out = buffer[pick];
            buffer[pick] = buffer[--size];
            buffer[size] = null;
            take(out);
        }
    }

    private void take(PackedBatch row) {
        pending.add(row);
        if (pending.size() < rows) {
            return;
        }
        int stride = sequenceLength + 1;
        int[] tokens = new int[rows * stride];
        Set<PackedBatch.DocumentId> documents = new LinkedHashSet<>();
        for (int b = 0; b < rows; b++) {
            System.arraycopy(pending.get(b).tokens(), 0, tokens, b * stride, stride);
            documents.addAll(pending.get(b).documents());
        }
        pending.clear();
        batches++;
        sink.accept(new PackedBatch(nextSequence++, rows, sequenceLength, tokens, List.copyOf(documents)));
    }

    /** Rows taken out of the buffer that did not fill a last batch (after {@link #drain()}: dropped). */
    public int droppedRows() {
        return pending.size();
    }

    public long batches() {
        return batches;
    }

    /** Sequence number the next batch will get. */
    public long nextSequence() {
        return nextSequence;
    }

    /** A uniform index in [0, bound), from SplitMix64. */
    private int nextIndex(int bound) {
        state += Mix64.GAMMA;
        long z = Mix64.mix(state);
        return (int) (((z >>> 33) * bound) >>> 31);
    }
}
