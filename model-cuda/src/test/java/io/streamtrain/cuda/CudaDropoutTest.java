package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Dropout on the GPU draws the CPU backend's masks: the element-wise kernels bit for bit, and whole training steps
 * (embeddings, attention weights inside the fused attention, both projections) within the bf16 tolerance of the
 * products, while another mask would be far off. Skipped with the probe's reason where there is no usable GPU.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaDropoutTest {
    private static final float P = 0.2f;
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test", 97, "");
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(3e-3, 2));

    @Test
    void shouldDropExactlyTheElementsTheCpuBackendDrops() {
        int n = (1 << 20) + 3;  // not a multiple of 4: the scalar tail too
        Random random = new Random(7);
        float[] x = new float[n];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextFloat() * 2 - 1;
            y[i] = random.nextFloat() * 2 - 1;
        }
        try (CudaKernels cuda = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            long key = 0x1234_5678_9ABC_DEF0L;
            float[] onCpu = dropout(cpu, x, key, n);
            float[] onGpu = dropout(cuda, x, key, n);
            assertArrayEquals(onCpu, onGpu, "dropout: the same masks and values, bit for bit");
            int dropped = 0;
            for (float v : onCpu) {
                dropped += v == 0f ? 1 : 0;
            }
            System.out.printf("dropout p=%.2f: %d of %d dropped (%.4f), CPU and CUDA identical%n", P, dropped, n,
                    (double) dropped / n);
            assertEquals(P, (double) dropped / n, 0.005);
            float[] sumCpu = residualDropout(cpu, y, x, key, n);
            float[] sumGpu = residualDropout(cuda, y, x, key, n);
            for (int i = 0; i < n; i++) {
                int at = i;
                assertEquals(sumCpu[i], sumGpu[i], 1e-6f, () -> "residual + dropout at " + at);
                assertEquals(onCpu[i] == 0f, sumGpu[i] == y[i], () -> "residual + dropout mask at " + at);
            }
        }
    }

    private static float[] dropout(Kernels kernels, float[] x, long key, int n) {
        Tensor t = kernels.allocate(n);
        kernels.write(t, x, 0);
        kernels.dropout(t, t, P, key, n);
        float[] out = new float[n];
        kernels.read(out, 0, t);
        return out;
    }

    private static float[] residualDropout(Kernels kernels, float[] a, float[] b, long key, int n) {
        Tensor ta = kernels.allocate(n);
        Tensor tb = kernels.allocate(n);
        Tensor out = kernels.allocate(n);
        kernels.write(ta, a, 0);
        kernels.write(tb, b, 0);
        kernels.residualDropoutForward(out, ta, tb, P, key, n);
        float[] host = new float[n];
        kernels.read(host, 0, out);
        return host;
    }

    @Test
    void shouldTrainWithTheCpuBackendsMasksOnTensorCoreAttention() {
        checkTraining(GptConfig.of(97, 80, 64, 2, 2));    // head size 32: tensor-core attention
    }

    @Test
    void shouldTrainWithTheCpuBackendsMasksOnFp32Attention() {
        checkTraining(GptConfig.of(97, 40, 192, 1, 2));   // head size 96: the fp32 attention kernels
    }

    /**
     * Six training steps (CUDA graphs replayed with each step's new mask keys) on both backends from the same weights:
     * the losses agree within the bf16 tolerance; then the gradients of one more batch, against those of another
     * mask (the next step's) to show the tolerance tells masks apart.
     */
    private static void checkTraining(GptConfig config) {
        int B = 4;
        int T = config.contextLength();
        try (CudaKernels cuda = CudaTesting.openOrSkip();
             Gpt onGpu = Gpt.initialize(config, cuda, OPTIONS, 11);
             Gpt onCpu = Gpt.initialize(config, new CpuKernels(2), OPTIONS, 11)) {
            onGpu.dropout(P);
            onCpu.dropout(P);
            for (int step = 0; step < 6; step++) {
                int[] tokens = batch(config, B, T, step);
                StepResult gpu = onGpu.trainStep(tokens, B, T);
                StepResult cpu = onCpu.trainStep(tokens, B, T);
                System.out.printf("%s step %d: loss CPU %.5f, CUDA %.5f%n", config, step + 1, cpu.loss(), gpu.loss());
                assertEquals(cpu.loss(), gpu.loss(), 1e-2, "loss of step " + (step + 1));
            }
            int[] tokens = batch(config, B, T, 99);
            onGpu.forwardBackward(tokens, B, T);
            onCpu.forwardBackward(tokens, B, T);
            float[] gpuGradients = onGpu.gradients();
            float[] cpuGradients = onCpu.gradients();
            Checkpoint state = onCpu.checkpoint(TOKENIZER, Map.of());
            float[] otherMask;
            try (Gpt later = Gpt.restore(new Checkpoint(config, TOKENIZER, state.step() + 1, state.rngState(),
                    state.parameters(), state.m(), state.v(), Map.of()), new CpuKernels(2), OPTIONS)) {
                later.dropout(P);
                later.forwardBackward(tokens, B, T);
                otherMask = later.gradients();
            }
            double sameMask = CudaTesting.relativeError(cpuGradients, gpuGradients);
            double anotherMask = CudaTesting.relativeError(cpuGradients, otherMask);
            System.out.printf("%s gradients: CUDA vs CPU %.3e, CPU with another mask %.3e%n", config, sameMask,
                    anotherMask);
            assertTrue(sameMask < 5e-2, "CUDA's gradients are those of the CPU's masks: " + sameMask);
            assertTrue(anotherMask > 4 * sameMask, "another mask is told apart: " + anotherMask);
        }
    }

    private static int[] batch(GptConfig config, int B, int T, int shift) {
        int[] tokens = new int[B * (T + 1)];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 31 + shift * 7 + i / 5) % config.vocabularySize();
        }
        return tokens;
    }
}
