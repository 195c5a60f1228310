package io.streamtrain.cli.support;

/** A fatal error whose message tells the user what went wrong and what to do; printed as one line, exit code 1. */
public final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CliException(String message) {
        super(message);
    }

    public CliException(String message, Throwable cause) {
        super(message, cause);
    }
}
