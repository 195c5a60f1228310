package io.streamtrain.cuda.internal;

import jcuda.driver.CUresult;

/** Checks the result codes of CUDA driver calls (JCuda's exceptions stay off, so that expected codes cost nothing). */
public final class Driver {
    private static volatile boolean contextLost;

    private Driver() {
    }

    /** Whether a kernel failed since the last call (the context is then unusable), clearing the flag. */
    public static boolean takeContextLost() {
        boolean lost = contextLost;
        contextLost = false;
        return lost;
    }

    /** Throws {@link CudaException} naming {@code what} when {@code result} is not CUDA_SUCCESS. */
    public static void check(int result, String what) {
        if (result != CUresult.CUDA_SUCCESS) {
            if (sticky(result)) {
                contextLost = true;
            }
            throw new CudaException(what + " failed: " + CUresult.stringFor(result) + hint(result));
        }
    }

    /** Records a failed kernel reported by a call whose result is otherwise ignored (while closing). */
    public static void note(int result) {
        if (sticky(result)) {
            contextLost = true;
        }
    }

    private static boolean sticky(int result) {
        return switch (result) {
            case CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, CUresult.CUDA_ERROR_LAUNCH_FAILED,
                    CUresult.CUDA_ERROR_MISALIGNED_ADDRESS, CUresult.CUDA_ERROR_ILLEGAL_INSTRUCTION,
                    CUresult.CUDA_ERROR_INVALID_ADDRESS_SPACE, CUresult.CUDA_ERROR_INVALID_PC,
                    CUresult.CUDA_ERROR_HARDWARE_STACK_ERROR, CUresult.CUDA_ERROR_ASSERT,
                    CUresult.CUDA_ERROR_LAUNCH_TIMEOUT -> true;
            default -> false;
        };
    }

    private static String hint(int result) {
        return switch (result) {
            case CUresult.CUDA_ERROR_OUT_OF_MEMORY -> " (the GPU is out of memory: use a smaller batch, sequence "
                    + "length or model, or free the GPU of other programs)";
            case CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, CUresult.CUDA_ERROR_LAUNCH_FAILED,
                    CUresult.CUDA_ERROR_MISALIGNED_ADDRESS ->
                    " (a kernel failed; the CUDA context is lost: close these kernels and open new ones)";
            case CUresult.CUDA_ERROR_INVALID_PTX, CUresult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION ->
                    " (the NVIDIA driver is too old for the shipped PTX: update the driver)";
            default -> "";
        };
    }

    /** A failed CUDA driver call. */
    public static final class CudaException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CudaException(String message) {
            super(message);
        }
    }
}
