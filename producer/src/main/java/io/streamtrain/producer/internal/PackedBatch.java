package io.streamtrain.producer.internal;

import java.util.List;
import java.util.Map;

/**
 * B rows of T+1 consecutive stream tokens, ready to publish.
 *
 * @param sequence       position of the batch within its dataset
 * @param rows           B
 * @param sequenceLength T
 * @param tokens         (B, T+1) row-major: row b holds stream tokens [start + b*T, start + b*T + T]
 * @param documents      the documents with at least one token in the batch, in stream order
 */
public record PackedBatch(long sequence, int rows, int sequenceLength, int[] tokens, List<DocumentId> documents) {

    /** A document's identity and metadata as published in {@code TokenBatch.documents}. */
    public record DocumentId(String id, String source, Map<String, String> metadata) {
        public DocumentId(String id, String source) {
            this(id, source, Map.of());
        }
    }
}
