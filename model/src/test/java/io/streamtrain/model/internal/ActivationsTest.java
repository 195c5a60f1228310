package io.streamtrain.model.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.streamtrain.model.GptConfig;
import io.streamtrain.model.cpu.CpuKernels;
import org.junit.jupiter.api.Test;

class ActivationsTest {

    @Test
    void shouldGiveEveryLayerTheSameActivationGradientBuffersAsLlmcDoes() {
        GptConfig config = GptConfig.of(100, 16, 32, 3, 4);
        int B = 2;
        int T = 16;
        try (CpuKernels kernels = new CpuKernels(1)) {
            long before = kernels.allocatedBytes();
            Activations acts = Activations.of(kernels, config, B, T, null);
            long statistics = kernels.attentionStatisticsSize(B, T, config.heads());
            long values = 0;
            long gradients = 0;
            for (ActivationTensor t : ActivationTensor.values()) {
                values += t.size(config, B, T, statistics);
                gradients += t.hasGradient() ? t.layerSize(config, B, T, statistics) : 0;
                if (t.hasGradient() && t.perLayer()) {
                    for (int l = 1; l < config.layers(); l++) {
                        assertSame(acts.gradient(t, 0), acts.gradient(t, l), t + "'s gradient of layer " + l);
                    }
                }
            }
            assertNotSame(acts.gradient(ActivationTensor.LN1, 0), acts.gradient(ActivationTensor.LN2, 0));
            // one layer's activation gradients, not L layers': the values, the gradients and the token ids
            assertEquals(4 * (values + gradients + 2L * B * T), kernels.allocatedBytes() - before);
        }
    }
}
