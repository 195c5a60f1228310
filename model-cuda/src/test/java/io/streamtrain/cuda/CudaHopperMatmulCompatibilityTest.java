package io.streamtrain.cuda;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.KernelsCompatibilityTest;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The compatibility kit with every matrix product whose sizes allow it on the wgmma kernels of a cc 9.0 GPU
 * ({@code matmul_hopper.cu}); skipped, saying so, on other GPUs.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaHopperMatmulCompatibilityTest extends KernelsCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        return CudaTesting.openWithProductsOnWgmmaOrSkip();
    }

    @Override
    protected double tolerance(String kernel) {
        return new CudaKernelsCompatibilityTest().tolerance(kernel);
    }
}
