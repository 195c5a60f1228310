package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.streamtrain.cuda.DeviceArrays.random;
import static io.streamtrain.cuda.DeviceArrays.upload;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The kernels that only shapes wider than the kit's take, against the CPU reference: the fp32 attention (head
 * sizes 65 to 128; smaller heads run on tensor cores) the layernorm backward at the widths of each of its kernels, and the cross-entropy over rows longer than its
 * shared memory holds.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaWideShapesTest {

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
                double error = CudaTesting.relativeError(expected, actual);
                System.out.printf("attention, head size 96, %s: max relative error %.3e%n",
                        backward ? "dqkv" : "out", error);
                assertTrue(error < 1e-4, (backward ? "dqkv" : "out") + " relative error " + error + "; first values "
                        + Arrays.toString(Arrays.copyOf(actual, 4)) + " vs " + Arrays.toString(Arrays.copyOf(expected, 4)));
            }
        }
    }

    /**
     * Every layernorm backward kernel: rows held in registers by 1 to 6 float4 chunks per lane (C a multiple of 4 up
     * to 768: small's 384, gpt2's 768, 500 with lanes left over), C not a multiple of 4 (the narrow kernel, up to
     * 1024), and C over 1024; N not a multiple of the rows per block.
     */
    @ParameterizedTest(name = "C = {0}")
    @ValueSource(ints = {384, 500, 768, 772, 1002, 1100})
    void shouldMatchTheReferenceInLayernormBackwardAtEveryKernelsWidth(int C) {
        int N = 37;
        Random random = new Random(C);
        float[] dout = random(random, N * C);
        float[] inp = random(random, N * C);
        float[] weight = random(random, C);
        float[] bias = random(random, C);
        float[] dinp0 = random(random, N * C);
        float[] dweight0 = random(random, C);
        float[] dbias0 = random(random, C);
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            float[][] expected = layernorm(cpu, dout, inp, weight, bias, dinp0, dweight0, dbias0, N, C);
            float[][] actual = layernorm(gpu, dout, inp, weight, bias, dinp0, dweight0, dbias0, N, C);
            String[] names = {"dinp", "dweight", "dbias"};
            for (int i = 0; i < 3; i++) {
                double error = CudaTesting.relativeError(expected[i], actual[i]);
                System.out.printf("layernormBackward, C = %d, %s: max relative error %.3e%n", C, names[i], error);
                assertTrue(error < 1e-4, names[i] + " relative error " + error);
            }
        }
    }

    private static float[][] layernorm(Kernels k, float[] dout, float[] inp, float[] weight, float[] bias,
                                       float[] dinp0, float[] dweight0, float[] dbias0, int N, int C) {
        Tensor x = upload(k, inp);
        Tensor w = upload(k, weight);
        Tensor out = k.allocate((long) N * C);
        Tensor mean = k.allocate(N);
        Tensor rstd = k.allocate(N);
        k.layernormForward(out, mean, rstd, x, w, upload(k, bias), N, C);
        Tensor dinp = upload(k, dinp0);
        Tensor dweight = upload(k, dweight0);
        Tensor dbias = upload(k, dbias0);
        k.layernormBackward(dinp, dweight, dbias, upload(k, dout), x, w, mean, rstd, N, C);
        float[][] result = {new float[N * C], new float[C], new float[C]};
        k.read(result[0], 0, dinp);
        k.read(result[1], 0, dweight);
        k.read(result[2], 0, dbias);
        return result;
    }

    /**
     * The cross-entropy over rows longer than the part it keeps in shared memory (half of a block's shared memory: about
     * 28,000 logits on the H200), which reads the rest of the row again for the gradient, as gpt2's 50,257 do; in place,
     * and a padded row whose length is no multiple of 4 (scalar accesses).
     */
    @ParameterizedTest(name = "V = {0}, Vp = {1}")
    @CsvSource({"50257, 50304", "70001, 70001"})
    void shouldMatchTheReferenceInTheCrossEntropyOverRowsLongerThanSharedMemoryHolds(int V, int Vp) {
        int N = 5;
        Random random = new Random(V);
        float[] logits = random(random, (long) N * Vp);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= 6;
        }
        int[] targets = new int[N];
        for (int i = 0; i < N; i++) {
            targets[i] = random.nextInt(V);
        }
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            float[][] expected = crossEntropy(cpu, logits, targets, N, V, Vp);
            float[][] actual = crossEntropy(gpu, logits, targets, N, V, Vp);
            String[] names = {"losses", "dlogits"};
            for (int i = 0; i < 2; i++) {
                double error = CudaTesting.relativeError(expected[i], actual[i]);
                System.out.printf("softmaxCrossEntropy, V = %d, %s: max relative error %.3e%n", V, names[i], error);
                assertTrue(error < 1e-4, names[i] + " relative error " + error);
            }
        }
    }

    private static float[][] crossEntropy(Kernels k, float[] logits, int[] targets, int N, int V, int Vp) {
        Tensor x = upload(k, logits);
        IntTensor ids = k.allocateInts(N);
        k.writeInts(ids, targets, 0, N);
        Tensor losses = k.allocate(N);
        k.softmaxCrossEntropy(losses, k.allocate(N), x, x, ids, 1.0f / N, true, N, V, Vp);
        float[][] result = {new float[N], new float[N * Vp]};
        k.read(result[0], 0, losses);
        k.read(result[1], 0, x);
        return result;
    }
}
