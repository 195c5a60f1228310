package io.streamtrain.producer;

/**
 * A fatal error: the run cannot go on (no input at all, unknown tokenizer, broker unreachable, a batch Kafka
 * refused). The message says what happened and what to do; the CLI prints it and exits non-zero. Bad documents
 * are never fatal: they are counted in {@link ProducerSummary#badInputs()}.
 */
public final class ProducerException extends RuntimeException {
    public ProducerException(String message) {
        super(message);
    }

    public ProducerException(String message, Throwable cause) {
        super(message, cause);
    }
}
