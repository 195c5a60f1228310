package io.streamtrain.cuda;

import io.streamtrain.model.Kernels;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The golden state (logits, loss, every named gradient, ten AdamW steps through step graphs) with every matrix product
 * on the wgmma kernels of a cc 9.0 GPU: so the whole training step runs on the bf16 copies that the producers write
 * (layernorm, GELU, the dlogits, the products' epilogues for attention, AdamW's weights) from its second step on, as
 * the bigger models do. Tolerances as {@link CudaGptCompatibilityTest}; skipped, saying so, on other GPUs.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaGptWgmmaCompatibilityTest extends CudaGptCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        return CudaTesting.openWithProductsOnWgmmaOrSkip();
    }
}
