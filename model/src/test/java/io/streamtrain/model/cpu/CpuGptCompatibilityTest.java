package io.streamtrain.model.cpu;

import io.streamtrain.model.GptCompatibilityTest;
import io.streamtrain.model.Kernels;

/** The CPU reference backend against the PyTorch golden state. */
class CpuGptCompatibilityTest extends GptCompatibilityTest {

    @Override
    protected Kernels createKernels() {
        return new CpuKernels(2);
    }
}
