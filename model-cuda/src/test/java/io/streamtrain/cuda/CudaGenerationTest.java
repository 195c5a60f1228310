package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Generation on the GPU against the CPU reference, from the same checkpoint. The model is first trained on the
 * CPU on a repeating sequence until its predictions are confident: with random weights the logits differ by
 * less than bf16 rounding and no two backends could agree on an argmax.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaGenerationTest {
    private static final int PERIOD = 13;
    private static final GptConfig CONFIG = GptConfig.of(64, 64, 64, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("test-periodic", 64, "none");

    /** (B, T+1) rows of the sequence 0, 1, ..., PERIOD-1, 0, 1, ... from varied starts. */
    private static int[] periodicBatch(int B, int T, int step) {
        int[] tokens = new int[B * (T + 1)];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t <= T; t++) {
                tokens[b * (T + 1) + t] = (b * 5 + step * 3 + t) % PERIOD;
            }
        }
        return tokens;
    }

    private static Checkpoint trainedOnCpu() {
        TrainingOptions options = TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(3e-3, 0));
        try (Gpt gpt = Gpt.initialize(CONFIG, new CpuKernels(2), options, 42)) {
            StepResult last = null;
            for (int step = 0; step < 80; step++) {
                last = gpt.trainStep(periodicBatch(4, 32, step), 4, 32);
            }
            assertTrue(last.accuracy() > 0.9, "the CPU model learned the sequence: " + last);
            return gpt.checkpoint(TOKENIZER, Map.of());
        }
    }

    @Test
    void shouldGenerateTheSameGreedyTokensAsTheCpuFromTheSameCheckpoint() {
        Checkpoint checkpoint = trainedOnCpu();
        int[] prompt = {3, 4, 5, 6};
        SamplingOptions greedy = new SamplingOptions(0f, 0);
        int[] onCpu;
        try (Gpt cpu = Gpt.restore(checkpoint, new CpuKernels(2), TrainingOptions.defaults())) {
            onCpu = cpu.generate(prompt, 40, greedy, 7);
        }
        int[] onGpu;
        long synchronizations;
        try (CudaKernels kernels = CudaKernels.open(0);
             Gpt gpu = Gpt.restore(checkpoint, kernels, TrainingOptions.defaults())) {
            long before = kernels.hostSynchronizations();
            onGpu = gpu.generate(prompt, 40, greedy, 7);
            synchronizations = kernels.hostSynchronizations() - before;
        }
        System.out.println("greedy on CPU:  " + Arrays.toString(onCpu));
        System.out.println("greedy on CUDA: " + Arrays.toString(onGpu));
        assertArrayEquals(onCpu, onGpu, "greedy tokens of the CPU and the GPU from the same checkpoint");
        assertEquals(1, synchronizations, "one host synchronisation per sample, not one per token");
    }

    @Test
    void shouldGenerateTheSameSampledTokensAsTheCpuWithTheSameSeed() {
        Checkpoint checkpoint = trainedOnCpu();
        int[] prompt = {0, 1};
        SamplingOptions sampling = new SamplingOptions(1.0f, 5);
        int[] onCpu;
        try (Gpt cpu = Gpt.restore(checkpoint, new CpuKernels(2), TrainingOptions.defaults())) {
            onCpu = cpu.generate(prompt, 30, sampling, 11);
        }
        int[] onGpu;
        try (Gpt gpu = Gpt.restore(checkpoint, CudaKernels.open(0), TrainingOptions.defaults())) {
            onGpu = gpu.generate(prompt, 30, sampling, 11);
        }
        System.out.println("sampled on CPU:  " + Arrays.toString(onCpu));
        System.out.println("sampled on CUDA: " + Arrays.toString(onGpu));
        assertArrayEquals(onCpu, onGpu, "tokens sampled with the same seed (a confident model: bf16 rounding "
                + "moves no cumulative boundary past a coin)");
    }
}
