package io.streamtrain.producer.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Packs documents into a contiguous token stream and cuts it into (B, T+1) windows, the llm.c way.
 *
 * <p>The stream is each document preceded by end-of-text: {@code EOT d0 EOT d1 EOT d2 ...}, so every document
 * starts after an end-of-text, as in GPT-2 training data. Batch k covers stream positions
 * {@code [k*B*T, (k+1)*B*T]} (B*T+1 tokens) and its row b holds the T+1 tokens {@code [k*B*T + b*T, k*B*T + b*T + T]}:
 * inputs are a row's first T tokens and targets its last T. Consecutive rows, and consecutive batches, share one
 * token (the last target of one is the first input of the next), so every stream token after the first is a
 * target exactly once and none is lost at a row or batch boundary.
 *
 * <p>The tail that does not fill a batch is kept: across files and across {@code --follow} ingestions it is
 * simply the start of the next batch. When the run ends it is dropped, never padded (padding would teach the
 * model that text ends in a run of end-of-text), and {@link #tailTokens()} says how many stream tokens were
 * never a target. Not thread-safe.
 */
public final class TokenPacker {
    private final int rows;
    private final int sequenceLength;
    private final int endOfText;
    private final Consumer<PackedBatch> sink;
    private final int[] window; // the next batch's B*T+1 stream tokens, filled so far up to `filled`
    private int filled;
    private long windowStart;   // stream position of window[0]
    private long nextSequence;
    private long batches;
    private long skip;          // tokens still to drop, see skip()
    private final ArrayDeque<Span> spans = new ArrayDeque<>(); // documents with tokens at or after windowStart

    private record Span(PackedBatch.DocumentId document, long start, long end) {} // stream positions [start, end)

    /**
     * @param rows           B, at least 1
     * @param sequenceLength T, at least 1
     * @param endOfText      the tokenizer's end-of-text id, written before every document
     * @param firstSequence  sequence number of the first batch
     * @param sink           receives each full batch, in stream order
     */
    public TokenPacker(int rows, int sequenceLength, int endOfText, long firstSequence, Consumer<PackedBatch> sink) {
        if (rows < 1 || sequenceLength < 1) {
            throw new IllegalArgumentException("B and T must be at least 1, got B=" + rows + " T=" + sequenceLength);
        }
        long windowLength = (long) rows * sequenceLength + 1;
        if (windowLength > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("B*T+1 = " + windowLength + " tokens is too large for one batch record");
        }
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.endOfText = endOfText;
        this.sink = sink;
        this.window = new int[(int) windowLength];
        this.nextSequence = firstSequence;
    }

    /** Appends end-of-text and the document's ids to the stream, emitting every batch that fills. */
    public void add(PackedBatch.DocumentId document, int[] ids) {
        add(document, ids, 0, ids.length, true);
    }

    /**
     * Appends ids {@code [from, to)} of a document, after an end-of-text when {@code startsDocument} (a part that
     * continues a document, such as the text after a held-out block, follows the stream without one).
     */
    public void add(PackedBatch.DocumentId document, int[] ids, int from, int to, boolean startsDocument) {
        boolean endOfTextFirst = startsDocument;
        if (endOfTextFirst && skip > 0) {
            endOfTextFirst = false;
            skip--;
        }
        int skipped = (int) Math.min(skip, to - from);
        from += skipped;
        skip -= skipped;
        long start = windowStart + filled;
        spans.addLast(new Span(document, start, start + (endOfTextFirst ? 1 : 0) + to - from));
        if (endOfTextFirst) {
            append(endOfText);
        }
        int offset = from;
        while (offset < to) {
            int count = Math.min(to - offset, window.length - filled);
            System.arraycopy(ids, offset, window, filled, count);
            filled += count;
            offset += count;
            emitIfFull();
        }
    }

    /**
     * Drops the next {@code count} tokens offered (end-of-text included) instead of appending them: shifts every
     * later window by that much (the shuffled epochs' random offset).
     */
    public void skip(long count) {
        skip += count;
    }

    private void append(int id) {
        window[filled++] = id;
        emitIfFull();
    }

    private void emitIfFull() {
        if (filled < window.length) {
            return;
        }
        int stride = sequenceLength + 1;
        int[] tokens = new int[rows * stride]; // (B, T+1)
        for (int b = 0; b < rows; b++) {
            System.arraycopy(window, b * sequenceLength, tokens, b * stride, stride);
        }
        long windowEnd = windowStart + window.length; // exclusive
        List<PackedBatch.DocumentId> documents = new ArrayList<>();
        for (Span span : spans) {
            boolean continues = !documents.isEmpty() && documents.get(documents.size() - 1).equals(span.document);
            if (span.start < windowEnd && span.end > windowStart && !continues) { // a continued part counts once
                documents.add(span.document);
            }
        }
        PackedBatch batch = new PackedBatch(nextSequence++, rows, sequenceLength, tokens, List.copyOf(documents));
        // The last token stays: it is the first input of the next batch.
        window[0] = window[window.length - 1];
        filled = 1;
        windowStart += window.length - 1;
        while (!spans.isEmpty() && spans.peekFirst().end <= windowStart) {
            spans.removeFirst();
        }
        batches++;
        sink.accept(batch);
    }

    /**
     * Stream tokens that no emitted batch holds as a target: everything after the last emitted batch, or the whole
     * stream when none was emitted. These are dropped if the run ends now.
     */
    public long tailTokens() {
        return batches == 0 ? filled : filled - 1;
    }

    /** Tokens appended so far, end-of-text included. */
    public long streamTokens() {
        return windowStart + filled;
    }

    public long batches() {
        return batches;
    }

    /** Sequence number the next batch will get. */
    public long nextSequence() {
        return nextSequence;
    }
}
