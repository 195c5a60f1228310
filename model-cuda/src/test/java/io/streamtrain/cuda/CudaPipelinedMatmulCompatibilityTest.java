package io.streamtrain.cuda;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.KernelsCompatibilityTest;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The compatibility kit again with every matrix product whose sizes allow it on the pipelined bf16 path (which
 * only large products take by default), so that both paths are checked on the test shapes: the compute_80 kernels,
 * also on a cc 9.0 GPU, where {@link CudaHopperMatmulCompatibilityTest} checks the wgmma ones.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaPipelinedMatmulCompatibilityTest extends KernelsCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        CudaKernels kernels = CudaTesting.openOrSkip();
        kernels.pipelinedMatmulThreshold(0);
        kernels.hopperMatmul(false);
        return kernels;
    }

    @Override
    protected double tolerance(String kernel) {
        return new CudaKernelsCompatibilityTest().tolerance(kernel);
    }
}
