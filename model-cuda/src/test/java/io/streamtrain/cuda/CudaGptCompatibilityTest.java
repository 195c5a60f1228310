package io.streamtrain.cuda;

import io.streamtrain.model.GptCompatibilityTest;
import io.streamtrain.model.Kernels;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The whole GPT on the GPU against the golden state (logits, loss, every named gradient, ten AdamW steps);
 * skipped with the probe's reason where there is no usable GPU. Tolerances are those of bf16 matrix products
 * with fp32 accumulation (PyTorch autocast's precision), composed through the layers.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaGptCompatibilityTest extends GptCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        return CudaTesting.openOrSkip();
    }

    @Override
    protected double logitsTolerance() {
        return 2e-2;
    }

    @Override
    protected double lossTolerance() {
        return 5e-3;
    }

    @Override
    protected double gradientTolerance() {
        return 5e-2;
    }

    @Override
    protected double trainingLossTolerance() {
        return 1e-2;
    }
}
