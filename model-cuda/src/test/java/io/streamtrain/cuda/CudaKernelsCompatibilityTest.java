package io.streamtrain.cuda;

import io.streamtrain.model.Kernels;
import org.junit.jupiter.api.extension.ExtendWith;
import io.streamtrain.model.KernelsCompatibilityTest;

/**
 * Every CUDA kernel against the plain-loop ground truth in double ({@code ReferenceKernels}) on random inputs (the
 * model's compatibility kit); skipped with the probe's reason where there is no usable GPU.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaKernelsCompatibilityTest extends KernelsCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        return CudaTesting.openOrSkip();
    }

    /**
     * Matrix products, and the products inside attention, take bf16 operands (8 bits of mantissa: a relative
     * rounding of 2^-9 per operand, which averages down over K): 1e-2 and, through a softmax, 2e-2. Everything
     * else is fp32 in another summation order, with the GPU's exp: 1e-4.
     */
    @Override
    protected double tolerance(String kernel) {
        return switch (kernel) {
            case "matmulForward", "matmulBackward" -> 1e-2;
            case "attentionForward", "attentionBackward" -> 2e-2;
            default -> 1e-4;
        };
    }
}
