package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenIdOutOfRangeException;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.TokenizerInfo;
import io.streamtrain.trainer.DeadLetterReason;
import java.nio.ByteBuffer;
import org.apache.kafka.common.TopicPartition;

/**
 * Checks a batch before it touches the model and decodes its ids into one preallocated array: tokenizer identity,
 * shape (B, T+1) against the expected one and the model's context, byte length, and every id in [0, V) (the model's
 * own check, {@link CheckedTokens#check}, made here once: the model does not check the ids again). A failure throws
 * {@link BadBatchException} naming the batch and its record, what differs and what to do. Not thread-safe (one
 * buffer).
 */
public final class BatchValidator {
    private final TokenizerIdentity tokenizer;
    private final GptConfig model;
    private final int contextLength;
    private final int rows;             // B
    private final int sequenceLength;   // T
    private final int[] tokens;         // (B, T+1), reused by every batch

    public BatchValidator(TokenizerIdentity tokenizer, GptConfig model, int rows, int sequenceLength) {
        int contextLength = model.contextLength();
        if (sequenceLength > contextLength) {
            throw new IllegalArgumentException("expected sequence length T=" + sequenceLength
                    + " exceeds the model's context length " + contextLength + ": lower sequence.length");
        }
        this.tokenizer = tokenizer;
        this.model = model;
        this.contextLength = contextLength;
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.tokens = new int[Math.multiplyExact(rows, sequenceLength + 1)];
    }

    public int rows() { return rows; }
    public int sequenceLength() { return sequenceLength; }

    /**
     * Validates {@code batch}, the record at {@code offset} of {@code partition}, and returns its ids (B, T+1)
     * row-major, checked for the model, in the shared buffer: valid until the next call.
     *
     * @throws BadBatchException when the batch must go to the dead-letter topic
     */
    public CheckedTokens validateAndDecode(TokenBatch batch, TopicPartition partition, long offset) {
        String what = describe(batch) + " (the record at " + partition + "@" + offset + ")";
        ByteBuffer bytes = batch.getTokens();
        int B = batch.getRows();
        int T = batch.getSequenceLength();
        if (B <= 0 || T <= 0 || bytes == null || !bytes.hasRemaining()) {
            throw new BadBatchException(DeadLetterReason.EMPTY_BATCH, what + " is empty: rows=" + B
                    + ", sequenceLength=" + T + ", " + (bytes == null ? 0 : bytes.remaining())
                    + " token bytes; the producer must not publish empty batches");
        }
        TokenizerInfo info = batch.getTokenizer();
        if (!info.getName().equals(tokenizer.name()) || info.getVocabularySize() != tokenizer.vocabularySize()
                || !info.getFingerprint().equals(tokenizer.fingerprint())) {
            throw new BadBatchException(DeadLetterReason.TOKENIZER_MISMATCH, what + " was tokenized with "
                    + info.getName() + " (V=" + info.getVocabularySize() + ", fingerprint " + info.getFingerprint()
                    + ") but the model uses " + tokenizer.name() + " (V=" + tokenizer.vocabularySize()
                    + ", fingerprint " + tokenizer.fingerprint() + "); produce with the trainer's tokenizer or"
                    + " train another model with the batch's");
        }
        if (T > contextLength) {
            throw new BadBatchException(DeadLetterReason.SEQUENCE_LENGTH_MISMATCH, what + " has sequence length T="
                    + T + ", above the model's context length " + contextLength + "; produce with a T of at most "
                    + contextLength);
        }
        if (T != sequenceLength) {
            throw new BadBatchException(DeadLetterReason.SEQUENCE_LENGTH_MISMATCH, what + " has sequence length T="
                    + T + " but the trainer expects T=" + sequenceLength + "; produce with the trainer's T or set"
                    + " the trainer's sequence.length to " + T);
        }
        if (B != rows) {
            throw new BadBatchException(DeadLetterReason.ROWS_MISMATCH, what + " has B=" + B
                    + " rows but the trainer expects B=" + rows + "; produce with the trainer's batch size or set"
                    + " the trainer's batch.rows to " + B);
        }
        long expectedBytes = (long) B * (T + 1) * Integer.BYTES;
        if (bytes.remaining() != expectedBytes) {
            throw new BadBatchException(DeadLetterReason.BYTE_LENGTH_MISMATCH, what + " holds " + bytes.remaining()
                    + " token bytes but rows * (T + 1) * 4 = " + B + " * " + (T + 1) + " * 4 = " + expectedBytes
                    + "; the record is truncated or its shape fields are wrong");
        }
        TokenIds.decode(bytes, tokens);
        try {
            return CheckedTokens.check(model, tokens, B, T);
        } catch (TokenIdOutOfRangeException e) {
            int i = e.index();
            throw new BadBatchException(DeadLetterReason.ID_OUT_OF_RANGE, what + " holds id " + e.id()
                    + " at row " + i / (T + 1) + ", position " + i % (T + 1) + ", outside [0, V="
                    + e.vocabularySize() + ") of " + tokenizer.name() + "; the producer's tokenizer or packing is"
                    + " broken");
        }
    }

    /** {@code batch <dataset>#<sequence>}, the words every message uses to name a batch. */
    public static String describe(TokenBatch batch) {
        return "batch " + batch.getDataset() + "#" + batch.getSequence();
    }
}
