package io.streamtrain.trainer.replay;

/** A replay that cannot or must not be done; the message says why and what to do. Nothing was changed. */
public final class ReplayException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ReplayException(String message) {
        super(message);
    }

    public ReplayException(String message, Throwable cause) {
        super(message, cause);
    }
}
