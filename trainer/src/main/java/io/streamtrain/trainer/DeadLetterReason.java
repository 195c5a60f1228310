package io.streamtrain.trainer;

/**
 * Why a record went to the dead-letter topic. The code starts the {@code __streams.errors.message} header of the
 * dead-letter record ({@code "<code>: <details>"}) and tags the {@code streamtrain.dead.letters} counter.
 */
public enum DeadLetterReason {
    /** The bytes are not a TokenBatch in Avro single-object encoding, or carry an unknown schema fingerprint. */
    NOT_A_TOKEN_BATCH("not-a-token-batch"),
    /** No rows, no ids, or a non-positive sequence length. */
    EMPTY_BATCH("empty-batch"),
    /** Tokenized with another tokenizer than the model's (name, vocabulary size or fingerprint differ). */
    TOKENIZER_MISMATCH("tokenizer-mismatch"),
    /** T above the model's context length, or not the expected T. */
    SEQUENCE_LENGTH_MISMATCH("sequence-length-mismatch"),
    /** B is not the expected number of rows. */
    ROWS_MISMATCH("rows-mismatch"),
    /** The tokens bytes are not rows * (T + 1) * 4 long. */
    BYTE_LENGTH_MISMATCH("byte-length-mismatch"),
    /** An id is negative or at or above the vocabulary size V. */
    ID_OUT_OF_RANGE("id-out-of-range"),
    /** The step's loss or gradient norm was NaN or infinite; the update was skipped and the model is unchanged. */
    NON_FINITE_STEP("non-finite-step"),
    /** The batch's loss, evaluated before its step, was a spike above loss.spike.ratio times the recent average. */
    LOSS_SPIKE("loss-spike"),
    /**
     * The record (for any of the reasons above) is larger than the dead-letter topic accepts: its dead letter is a
     * reference (first bytes of key and value, the value's length and SHA-256, its topic, partition and offset).
     */
    RECORD_TOO_LARGE("record-too-large");

    private final String code;

    DeadLetterReason(String code) {
        this.code = code;
    }

    /** Short, stable, lower-case code, e.g. {@code tokenizer-mismatch}. */
    public String code() {
        return code;
    }
}
