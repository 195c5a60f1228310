package io.streamtrain.cuda;

/** NCCL cannot be used: the message says where it was looked for and how to name it. */
public final class NcclUnavailableException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public NcclUnavailableException(String message) {
        super(message);
    }

    public NcclUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
