package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The fp32 attention kernels, which serve head sizes 65 to 128 (the kit's shapes have smaller heads, served by
 * the tensor-core kernels), against the CPU reference: forward output and accumulated dqkv.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaAttentionLargeHeadTest {

    private static float[] random(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextFloat() * 2 - 1;
        }
        return x;
    }

    private static float[] run(Kernels k, float[] qkv, float[] dout, float[] dqkv0, int B, int T, int C, int NH,
                               boolean backward) {
        Tensor q = k.allocate(qkv.length);
        k.write(q, qkv, 0);
        Tensor out = k.allocate((long) B * T * C);
        Tensor stats = k.allocate(k.attentionStatisticsSize(B, T, NH));
        k.attentionForward(out, stats, q, B, T, C, NH);
        if (!backward) {
            float[] result = new float[B * T * C];
            k.read(result, 0, out);
            return result;
        }
        Tensor d = k.allocate(dout.length);
        k.write(d, dout, 0);
        Tensor dq = k.allocate(dqkv0.length);
        k.write(dq, dqkv0, 0);
        k.attentionBackward(dq, d, q, out, stats, B, T, C, NH);
        float[] result = new float[dqkv0.length];
        k.read(result, 0, dq);
        return result;
    }

    private static double relativeError(float[] expected, float[] actual) {
        double max = 1e-6;
        double difference = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i]));
            double d = Math.abs((double) expected[i] - actual[i]);
            difference = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(difference, d);
        }
        return difference / max;
    }

    @Test
    void shouldMatchTheReferenceWithHeadsOf96() {
        int B = 2;
        int T = 70;
        int C = 192;
        int NH = 2;
        Random random = new Random(96);
        float[] qkv = random(random, B * T * 3 * C);
        float[] dout = random(random, B * T * C);
        float[] dqkv0 = random(random, B * T * 3 * C);
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            for (boolean backward : new boolean[] {false, true}) {
                float[] expected = run(cpu, qkv, dout, dqkv0, B, T, C, NH, backward);
                float[] actual = run(gpu, qkv, dout, dqkv0, B, T, C, NH, backward);
                double error = relativeError(expected, actual);
                System.out.printf("attention, head size 96, %s: max relative error %.3e%n",
                        backward ? "dqkv" : "out", error);
                assertTrue(error < 1e-4, (backward ? "dqkv" : "out") + " relative error " + error + "; first values "
                        + Arrays.toString(Arrays.copyOf(actual, 4)) + " vs " + Arrays.toString(Arrays.copyOf(expected, 4)));
            }
        }
    }
}
