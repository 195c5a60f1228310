package io.streamtrain.model.cpu;

import static io.streamtrain.model.cpu.KernelTesting.assertClose;
import static io.streamtrain.model.cpu.KernelTesting.download;
import static io.streamtrain.model.cpu.KernelTesting.randomFloats;
import static io.streamtrain.model.cpu.KernelTesting.upload;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The CPU kernels without a backward pass: optimizer, reductions, generation, memory and argument checks. */
class CpuKernelsTest {
    private final Random random = new Random(7);
    private final CpuKernels kernels = new CpuKernels(2);

    @AfterEach
    void close() {
        kernels.close();
    }

    private Tensor scalar(float value) {
        return upload(kernels, new float[] {value});
    }

    // ---- adamw ----------------------------------------------------------------------------

    @Test
    void shouldApplyAdamwAsTorchDoesWithDecayOnlyOnTheDecayedPrefixAndClippedGradients() {
        int n = 7;
        int decayed = 3;
        int step = 3;
        float lr = 1e-2f;
        float beta1 = 0.9f;
        float beta2 = 0.95f;
        float eps = 1e-8f;
        float weightDecay = 0.1f;
        float maxNorm = 1f;
        float norm = 4f; // clipped: gradients scaled by 1 / (4 + 1e-6)
        float[] p = randomFloats(random, n, 1f);
        float[] m = randomFloats(random, n, 0.1f);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextFloat() * 0.01f;
        }
        float[] g = randomFloats(random, n, 2f);
        Tensor params = upload(kernels, p);
        Tensor mt = upload(kernels, m);
        Tensor vt = upload(kernels, v);
        kernels.adamw(params, mt, vt, upload(kernels, g), scalar(norm), n, decayed, lr, beta1, beta2, eps,
                weightDecay, maxNorm, step);

        double[] expectedP = new double[n];
        double[] expectedM = new double[n];
        double[] expectedV = new double[n];
        double scale = maxNorm / (norm + 1e-6);
        for (int i = 0; i < n; i++) {
            double grad = g[i] * scale;
            double param = p[i] * (i < decayed ? 1 - lr * weightDecay : 1);
            expectedM[i] = beta1 * m[i] + (1 - beta1) * grad;
            expectedV[i] = beta2 * v[i] + (1 - beta2) * grad * grad;
            double mHat = expectedM[i] / (1 - Math.pow(beta1, step));
            double vHat = expectedV[i] / (1 - Math.pow(beta2, step));
            expectedP[i] = param - lr * mHat / (Math.sqrt(vHat) + eps);
        }
        assertClose("params", download(kernels, params), expectedP, 1e-6);
        assertClose("m", download(kernels, mt), expectedM, 1e-6);
        assertClose("v", download(kernels, vt), expectedV, 1e-6);
    }

    @Test
    void shouldNotClipGradientsWhoseNormIsBelowTheMaximum() {
        float[] g = {0.3f, -0.2f};
        Tensor params = upload(kernels, new float[2]);
        Tensor m = upload(kernels, new float[2]);
        Tensor v = upload(kernels, new float[2]);
        kernels.adamw(params, m, v, upload(kernels, g), scalar(0.5f), 2, 0, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1f, 1);
        assertClose("m after one step", download(kernels, m), new double[] {0.1 * 0.3, 0.1 * -0.2}, 1e-6);
        // step 1 with zero moments: the update is lr * sign(g), up to eps
        assertClose("params", download(kernels, params), new double[] {-1e-3, 1e-3}, 1e-5);
    }

    @Test
    void shouldSkipTheAdamwStepWhenTheGradientNormIsNotFinite() {
        float[] p = randomFloats(random, 5, 1f);
        float[] m = randomFloats(random, 5, 1f);
        float[] v = randomFloats(random, 5, 1f);
        for (float norm : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            Tensor params = upload(kernels, p);
            Tensor mt = upload(kernels, m);
            Tensor vt = upload(kernels, v);
            kernels.adamw(params, mt, vt, upload(kernels, randomFloats(random, 5, 1f)), scalar(norm), 5, 5,
                    1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 1f, 1);
            assertArrayEquals(p, download(kernels, params), "params after a step with norm " + norm);
            assertArrayEquals(m, download(kernels, mt), "m after a step with norm " + norm);
            assertArrayEquals(v, download(kernels, vt), "v after a step with norm " + norm);
        }
    }

    // ---- reductions -----------------------------------------------------------------------

    @Test
    void shouldComputeTheGlobalNormOverManyReductionBlocks() {
        float[] x = randomFloats(random, 200_003, 1f);
        Tensor out = kernels.allocate(1);
        kernels.globalNorm(out, upload(kernels, x), x.length);
        double sum = 0;
        for (float xi : x) {
            sum += (double) xi * xi;
        }
        assertClose("norm", download(kernels, out), new double[] {Math.sqrt(sum)}, 1e-6);
    }

    @Test
    void shouldReportANonFiniteGlobalNormWhenAGradientIsNaN() {
        float[] x = randomFloats(random, 1000, 1f);
        x[517] = Float.NaN;
        Tensor out = kernels.allocate(1);
        kernels.globalNorm(out, upload(kernels, x), x.length);
        assertTrue(Float.isNaN(download(kernels, out)[0]));
    }

    @Test
    void shouldComputeTheMean() {
        float[] x = randomFloats(random, 4097, 1f);
        Tensor out = kernels.allocate(1);
        kernels.mean(out, upload(kernels, x), x.length);
        double sum = 0;
        for (float xi : x) {
            sum += xi;
        }
        assertClose("mean", download(kernels, out), new double[] {sum / x.length}, 1e-6);
    }

    // ---- generation -----------------------------------------------------------------------

    @Test
    void shouldDecodeOnePositionExactlyAsTheMatchingRowOfAttentionForward() {
        checkDecode(9, 12, 3);
        checkDecode(6, 15, 5); // odd head size
    }

    private void checkDecode(int T, int C, int NH) {
        float[] qkv = randomFloats(random, T * 3 * C, 2f);
        Tensor out = kernels.allocate(T * C);
        kernels.attentionForward(out, kernels.allocate(kernels.attentionStatisticsSize(1, T, NH)),
                upload(kernels, qkv), 1, T, C, NH);
        float[] expected = download(kernels, out);
        // the KV cache of positions [0, T): keys and values of each position, (T, C) each
        float[] keys = new float[T * C];
        float[] values = new float[T * C];
        for (int t = 0; t < T; t++) {
            System.arraycopy(qkv, t * 3 * C + C, keys, t * C, C);
            System.arraycopy(qkv, t * 3 * C + 2 * C, values, t * C, C);
        }
        Tensor kcache = upload(kernels, keys);
        Tensor vcache = upload(kernels, values);
        for (int position = 0; position < T; position++) {
            Tensor decoded = kernels.allocate(C);
            kernels.attentionDecode(decoded, upload(kernels, Arrays.copyOfRange(qkv, position * 3 * C,
                    position * 3 * C + C)), kcache, vcache, position, C, NH);
            assertArrayEquals(Arrays.copyOfRange(expected, position * C, position * C + C),
                    download(kernels, decoded), "decoded position " + position);
        }
    }

    private int sample(float[] logits, float coin, float temperature, int topK, int V) {
        IntTensor out = kernels.allocateInts(1);
        kernels.sample(out, upload(kernels, logits), scalar(coin), temperature, topK, V);
        int[] id = new int[1];
        kernels.readInts(id, 0, out);
        return id[0];
    }

    @Test
    void shouldSampleTheArgmaxGreedilyWhenTemperatureIsZero() {
        int V = 50;
        float[] logits = randomFloats(random, 64, 1f);
        logits[31] = 5f;
        Arrays.fill(logits, V, 64, 100f); // padding, larger than any real logit
        for (float coin : new float[] {0f, 0.5f, 0.999f}) {
            assertEquals(31, sample(logits, coin, 0f, 0, V));
        }
    }

    @Test
    void shouldNeverSampleOutsideTheTopK() {
        int V = 100;
        int k = 5;
        float[] logits = randomFloats(random, V, 1f);
        float[] sorted = logits.clone();
        Arrays.sort(sorted);
        float fifthLargest = sorted[V - k];
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            int id = sample(logits, i / 1000f, 1.5f, k, V);
            assertTrue(logits[id] >= fifthLargest, "sampled id " + id + " is not among the top " + k);
            seen.add(id);
        }
        assertEquals(k, seen.size(), "every one of the top k is drawn for some coin");
    }

    @Test
    void shouldNeverSamplePaddingIds() {
        int V = 70;
        float[] logits = randomFloats(random, 128, 1f);
        Arrays.fill(logits, V, 128, 50f);
        for (int i = 0; i < 200; i++) {
            float coin = Math.min(i / 200f, 0.99999994f);
            assertTrue(sample(logits, coin, 1f, 0, V) < V);
            assertTrue(sample(logits, coin, 1f, 3, V) < V);
        }
        assertTrue(sample(logits, 0.99999994f, 100f, 0, V) < V);
    }

    @Test
    void shouldDrawFromTheSoftmaxOfLogitsOverTemperature() {
        float[] logits = {0f, (float) Math.log(3)}; // temperature 1: p = (1/4, 3/4)
        assertEquals(0, sample(logits, 0.2f, 1f, 0, 2));
        assertEquals(1, sample(logits, 0.3f, 1f, 0, 2));
        // temperature 2: p proportional to (1, sqrt 3): p0 = 0.366
        assertEquals(0, sample(logits, 0.35f, 2f, 0, 2));
        assertEquals(1, sample(logits, 0.38f, 2f, 0, 2));
        assertThrows(IllegalArgumentException.class, () -> sample(logits, 0.5f, -1f, 0, 2));
    }

    // ---- memory and checks ----------------------------------------------------------------

    @Test
    void shouldCopyFillReadAndWriteThroughViews() {
        Tensor whole = kernels.allocate(10);
        Tensor middle = whole.slice(2, 5);
        kernels.write(middle, new float[] {9, 1, 2, 3, 4, 5, 9}, 1);
        kernels.fill(whole.slice(8, 2), 7f);
        Tensor other = kernels.allocate(5);
        kernels.copy(other, middle);
        assertArrayEquals(new float[] {0, 0, 1, 2, 3, 4, 5, 0, 7, 7}, download(kernels, whole));
        assertArrayEquals(new float[] {1, 2, 3, 4, 5}, download(kernels, other));
        assertEquals(4L * (10 + 5), kernels.allocatedBytes());
    }

    @Test
    void shouldNameTheKernelAndArgumentWhenATensorIsTooSmall() {
        Tensor small = kernels.allocate(10);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> kernels.matmulForward(small, kernels.allocate(8 * 4), kernels.allocate(3 * 4), null, 8, 4, 3));
        assertTrue(e.getMessage().contains("matmulForward") && e.getMessage().contains("out"), e.getMessage());
    }

    @Test
    void shouldRefuseTokenIdsOutsideTheEmbedding() {
        IntTensor tokens = kernels.allocateInts(2);
        kernels.writeInts(tokens, new int[] {1, 64}, 0, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> kernels.encoderForward(
                kernels.allocate(2 * 4), tokens, kernels.allocate(64 * 4), kernels.allocate(2 * 4), 1, 2, 4));
        assertTrue(e.getMessage().contains("64"), e.getMessage());
    }

    @Test
    void shouldRefuseWorkAfterClose() {
        CpuKernels closed = new CpuKernels(2);
        Tensor x = closed.allocate(1 << 16);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.geluForward(x, x, 1 << 16));
    }
}
