package io.streamtrain.trainer.internal;

import io.streamtrain.trainer.DeadLetterReason;

/**
 * A batch the trainer will not train on. Its message, {@code "<reason code>: <details>"}, becomes the
 * {@code __streams.errors.message} header of the dead-letter record. Without a stack trace: it is an expected
 * outcome of bad input, not a bug, and the dead-letter record and the log stay one line.
 */
public final class BadBatchException extends RuntimeException {
    private final DeadLetterReason reason;

    public BadBatchException(DeadLetterReason reason, String details) {
        super(reason.code() + ": " + details, null, false, false);
        this.reason = reason;
    }

    public DeadLetterReason reason() {
        return reason;
    }
}
