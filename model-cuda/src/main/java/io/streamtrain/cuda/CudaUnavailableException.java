package io.streamtrain.cuda;

/** No usable CUDA device: the message says why (no driver, no device, too old) and what to do. */
public final class CudaUnavailableException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public CudaUnavailableException(String message) {
        super(message);
    }
}
