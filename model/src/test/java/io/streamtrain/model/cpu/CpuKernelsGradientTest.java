package io.streamtrain.model.cpu;

import static io.streamtrain.model.cpu.KernelTesting.assertClose;
import static io.streamtrain.model.cpu.KernelTesting.download;
import static io.streamtrain.model.cpu.KernelTesting.numericGradient;
import static io.streamtrain.model.cpu.KernelTesting.randomFloats;
import static io.streamtrain.model.cpu.KernelTesting.randomInts;
import static io.streamtrain.model.cpu.KernelTesting.toDouble;
import static io.streamtrain.model.cpu.KernelTesting.upload;
import static io.streamtrain.model.cpu.KernelTesting.uploadInts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.ReferenceKernels;
import io.streamtrain.model.Tensor;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Each float forward kernel against the double-precision reference, and each backward kernel against
 * central finite differences of that reference, on small random shapes. Gradient buffers start from
 * random values, so the checks also prove which backward outputs accumulate and which are overwritten.
 */
class CpuKernelsGradientTest {
    private static final int B = 2;
    private static final int T = 5;
    private static final int C = 8;
    private static final int NH = 2;
    private static final int V = 13;
    private static final int Vp = 64;
    private static final int N = B * T;
    private static final double FORWARD_TOLERANCE = 1e-5;
    private static final double GRADIENT_TOLERANCE = 1e-4;

    private final Random random = new Random(42);
    private final CpuKernels kernels = new CpuKernels(2);

    @AfterEach
    void close() {
        kernels.close();
    }

    /**
     * A gradient buffer pre-filled with random values, which the backward kernel must add to (parameter gradients,
     * layernorm's dinp) or overwrite (the activation gradients of one producer).
     */
    private final class Gradient {
        final float[] initial;
        final Tensor tensor;

        Gradient(int n) {
            initial = randomFloats(random, n, 1f);
            tensor = upload(kernels, initial);
        }

        /** What the kernel wrote, whatever was there before. */
        float[] written() {
            return download(kernels, tensor);
        }

        /** What the kernel added. */
        float[] accumulated() {
            float[] now = download(kernels, tensor);
            for (int i = 0; i < now.length; i++) {
                now[i] -= initial[i];
            }
            return now;
        }
    }

    @Test
    void shouldMatchFiniteDifferencesInEncoderBackward() {
        int[] tokens = randomInts(random, N, V);
        float[] wte = randomFloats(random, Vp * C, 1f);
        float[] wpe = randomFloats(random, T * C, 1f);
        Tensor out = kernels.allocate(N * C);
        IntTensor tokenTensor = uploadInts(kernels, tokens);
        kernels.encoderForward(out, tokenTensor, upload(kernels, wte), upload(kernels, wpe), B, T, C);
        Function<double[][], double[]> f = x -> ReferenceKernels.encoder(tokens, x[0], x[1], B, T, C);
        double[][] inputs = {toDouble(wte), toDouble(wpe)};
        assertClose("encoder out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, N * C, 1f);
        Gradient dwte = new Gradient(Vp * C);
        Gradient dwpe = new Gradient(T * C);
        kernels.encoderBackward(dwte.tensor, dwpe.tensor, upload(kernels, dout), tokenTensor, B, T, C);
        assertClose("dwte", dwte.accumulated(), numericGradient(f, inputs, 0, toDouble(dout)), GRADIENT_TOLERANCE);
        assertClose("dwpe", dwpe.accumulated(), numericGradient(f, inputs, 1, toDouble(dout)), GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesInLayernormBackward() {
        float[] inp = randomFloats(random, N * C, 2f);
        float[] weight = randomFloats(random, C, 1.5f);
        float[] bias = randomFloats(random, C, 1f);
        Tensor out = kernels.allocate(N * C);
        Tensor mean = kernels.allocate(N);
        Tensor rstd = kernels.allocate(N);
        Tensor inpTensor = upload(kernels, inp);
        Tensor weightTensor = upload(kernels, weight);
        kernels.layernormForward(out, mean, rstd, inpTensor, weightTensor, upload(kernels, bias), N, C);
        Function<double[][], double[]> f = x -> ReferenceKernels.layernorm(x[0], x[1], x[2], N, C);
        double[][] inputs = {toDouble(inp), toDouble(weight), toDouble(bias)};
        assertClose("layernorm out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, N * C, 1f);
        Gradient dinp = new Gradient(N * C);
        Gradient dweight = new Gradient(C);
        Gradient dbias = new Gradient(C);
        kernels.layernormBackward(dinp.tensor, dweight.tensor, dbias.tensor, upload(kernels, dout), inpTensor,
                weightTensor, mean, rstd, N, C);
        double[] r = toDouble(dout);
        assertClose("dinp", dinp.accumulated(), numericGradient(f, inputs, 0, r), GRADIENT_TOLERANCE);
        assertClose("dweight", dweight.accumulated(), numericGradient(f, inputs, 1, r), GRADIENT_TOLERANCE);
        assertClose("dbias", dbias.accumulated(), numericGradient(f, inputs, 2, r), GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesInMatmulBackwardWithBias() {
        checkMatmul(N, C, 3 * C, true);
    }

    @Test
    void shouldMatchFiniteDifferencesInMatmulBackwardWithoutBias() {
        checkMatmul(N, C, Vp, false);
    }

    @Test
    void shouldMatchFiniteDifferencesInMatmulBackwardOnSizesThatAreNotMultiplesOfTiles() {
        checkMatmul(7, 13, 37, true);
    }

    private void checkMatmul(int n, int c, int oc, boolean withBias) {
        float[] inp = randomFloats(random, n * c, 1f);
        float[] weight = randomFloats(random, oc * c, 1f);
        float[] bias = withBias ? randomFloats(random, oc, 1f) : null;
        Tensor out = kernels.allocate((long) n * oc);
        Tensor inpTensor = upload(kernels, inp);
        Tensor weightTensor = upload(kernels, weight);
        kernels.matmulForward(out, inpTensor, weightTensor, withBias ? upload(kernels, bias) : null, n, c, oc);
        Function<double[][], double[]> f = x -> ReferenceKernels.matmul(x[0], x[1], withBias ? x[2] : null, n, c, oc);
        double[][] inputs = {toDouble(inp), toDouble(weight), withBias ? toDouble(bias) : new double[0]};
        assertClose("matmul out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, n * oc, 1f);
        Gradient dinp = new Gradient(n * c);
        Gradient dweight = new Gradient(oc * c);
        Gradient dbias = new Gradient(oc);
        kernels.matmulBackward(dinp.tensor, dweight.tensor, withBias ? dbias.tensor : null, upload(kernels, dout),
                inpTensor, weightTensor, n, c, oc);
        double[] r = toDouble(dout);
        assertClose("dinp", dinp.written(), numericGradient(f, inputs, 0, r), GRADIENT_TOLERANCE);
        assertClose("dweight", dweight.accumulated(), numericGradient(f, inputs, 1, r), GRADIENT_TOLERANCE);
        if (withBias) {
            assertClose("dbias", dbias.accumulated(), numericGradient(f, inputs, 2, r), GRADIENT_TOLERANCE);
        } else {
            assertArrayEquals(new float[oc], dbias.accumulated(), "a null dbias must leave other memory alone");
        }
    }

    @Test
    void shouldMatchTheExactGradientsInMatmulOnShapesSpanningSeveralTilesAndPanels() {
        checkMatmulAnalytically(1030, 522, 70);  // two row panels of dweight
        checkMatmulAnalytically(9, 600, 300);    // two column tiles of forward, three weight panels of dinp
    }

    /** Large shapes, where finite differences would be slow: the gradients of a product, exactly, in double. */
    private void checkMatmulAnalytically(int n, int c, int oc) {
        float[] inp = randomFloats(random, n * c, 1f);
        float[] weight = randomFloats(random, oc * c, 1f);
        float[] bias = randomFloats(random, oc, 1f);
        Tensor out = kernels.allocate((long) n * oc);
        Tensor inpTensor = upload(kernels, inp);
        Tensor weightTensor = upload(kernels, weight);
        kernels.matmulForward(out, inpTensor, weightTensor, upload(kernels, bias), n, c, oc);
        assertClose("matmul out", download(kernels, out),
                ReferenceKernels.matmul(toDouble(inp), toDouble(weight), toDouble(bias), n, c, oc), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, n * oc, 1f);
        Gradient dinp = new Gradient(n * c);
        Gradient dweight = new Gradient(oc * c);
        Gradient dbias = new Gradient(oc);
        kernels.matmulBackward(dinp.tensor, dweight.tensor, dbias.tensor, upload(kernels, dout), inpTensor,
                weightTensor, n, c, oc);
        double[] expectedDinp = new double[n * c];
        double[] expectedDweight = new double[oc * c];
        double[] expectedDbias = new double[oc];
        for (int row = 0; row < n; row++) {
            for (int o = 0; o < oc; o++) {
                double g = dout[row * oc + o];
                expectedDbias[o] += g;
                for (int i = 0; i < c; i++) {
                    expectedDinp[row * c + i] += g * weight[o * c + i];
                    expectedDweight[o * c + i] += g * inp[row * c + i];
                }
            }
        }
        assertClose("dinp", dinp.written(), expectedDinp, GRADIENT_TOLERANCE);
        assertClose("dweight", dweight.accumulated(), expectedDweight, GRADIENT_TOLERANCE);
        assertClose("dbias", dbias.accumulated(), expectedDbias, GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesInAttentionBackwardWhenTIsNotAMultipleOfFour() {
        checkAttention(1, 19, 16, 2);
    }

    @Test
    void shouldMatchFiniteDifferencesInAttentionBackwardWithAnOddHeadSize() {
        checkAttention(2, 7, 15, 5);
    }

    @Test
    void shouldMatchFiniteDifferencesInAttentionBackward() {
        checkAttention(B, T, C, NH);
    }

    @Test
    void shouldMatchFiniteDifferencesOfAttentionWithTheSameDropoutMaskOnItsWeights() {
        checkAttention(B, 9, C, NH, 0.3f, 77L);
        checkAttention(1, 19, 15, 3, 0.5f, -5L);
    }

    private void checkAttention(int b, int t, int c, int nh) {
        checkAttention(b, t, c, nh, 0f, 0L);
    }

    private void checkAttention(int b, int t, int c, int nh, float dropout, long key) {
        int n = b * t;
        float[] qkv = randomFloats(random, n * 3 * c, 1.5f);
        Tensor out = kernels.allocate((long) n * c);
        Tensor stats = kernels.allocate(kernels.attentionStatisticsSize(b, t, nh));
        Tensor qkvTensor = upload(kernels, qkv);
        kernels.attentionForward(out, stats, qkvTensor, b, t, c, nh, dropout, key);
        // the mask is a function of (key, element): fixed while the finite differences move the inputs
        Function<double[][], double[]> f = x -> ReferenceKernels.attention(x[0], b, t, c, nh, dropout, key);
        double[][] inputs = {toDouble(qkv)};
        assertClose("attention out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, n * c, 1f);
        Gradient dqkv = new Gradient(n * 3 * c);
        kernels.attentionBackward(dqkv.tensor, upload(kernels, dout), qkvTensor, out, stats, b, t, c, nh, dropout,
                key);
        assertClose("dqkv", dqkv.written(), numericGradient(f, inputs, 0, toDouble(dout)), GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesOfDropoutAndItsResidualSumWithTheSameMask() {
        int n = N * C;
        float[] inp = randomFloats(random, n, 1f);
        float[] other = randomFloats(random, n, 1f);
        Tensor out = kernels.allocate(n);
        kernels.residualDropoutForward(out, upload(kernels, other), upload(kernels, inp), 0.25f, 9L, n);
        Function<double[][], double[]> f = x -> ReferenceKernels.residual(x[1], ReferenceKernels.dropout(x[0], 0.25f,
                9L));
        double[][] inputs = {toDouble(inp), toDouble(other)};
        assertClose("residual + dropout out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);
        // backward of a dropout is the same dropout of the output's gradient
        float[] dout = randomFloats(random, n, 1f);
        Tensor dinp = upload(kernels, dout);
        kernels.dropout(dinp, dinp, 0.25f, 9L, n);
        assertClose("d inp", download(kernels, dinp), numericGradient(f, inputs, 0, toDouble(dout)),
                GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesInGeluBackward() {
        float[] inp = randomFloats(random, N * 4 * C, 4f);
        Tensor out = kernels.allocate(inp.length);
        Tensor inpTensor = upload(kernels, inp);
        kernels.geluForward(out, inpTensor, inp.length);
        Function<double[][], double[]> f = x -> ReferenceKernels.gelu(x[0]);
        double[][] inputs = {toDouble(inp)};
        assertClose("gelu out", download(kernels, out), f.apply(inputs), FORWARD_TOLERANCE);

        float[] dout = randomFloats(random, inp.length, 1f);
        Gradient dinp = new Gradient(inp.length);
        kernels.geluBackward(dinp.tensor, upload(kernels, dout), inpTensor, inp.length);
        assertClose("dinp", dinp.written(), numericGradient(f, inputs, 0, toDouble(dout)), GRADIENT_TOLERANCE);
    }

    @Test
    void shouldMatchTheReferenceInResidualForward() {
        float[] a = randomFloats(random, N * C, 1f);
        float[] b = randomFloats(random, N * C, 1f);
        Tensor out = kernels.allocate(N * C);
        kernels.residualForward(out, upload(kernels, a), upload(kernels, b), N * C);
        assertClose("residual out", download(kernels, out), ReferenceKernels.residual(toDouble(a), toDouble(b)),
                FORWARD_TOLERANCE);
    }

    @Test
    void shouldMatchFiniteDifferencesInSoftmaxCrossEntropyAndZeroThePaddingColumns() {
        float[] logits = randomFloats(random, N * Vp, 3f);
        int[] targets = randomInts(random, N, V);
        float dlossScale = 1f / N;
        Tensor losses = kernels.allocate(N);
        Tensor correct = kernels.allocate(N);
        float[] poison = new float[N * Vp];
        java.util.Arrays.fill(poison, Float.NaN);
        Tensor dlogits = upload(kernels, poison); // overwritten, not accumulated
        kernels.softmaxCrossEntropy(losses, correct, dlogits, upload(kernels, logits), uploadInts(kernels, targets),
                dlossScale, true, N, V, Vp);
        Function<double[][], double[]> f = x -> ReferenceKernels.crossEntropy(x[0], targets, N, V, Vp);
        double[][] inputs = {toDouble(logits)};
        assertClose("losses", download(kernels, losses), f.apply(inputs), FORWARD_TOLERANCE);
        double[] scale = new double[N];
        java.util.Arrays.fill(scale, dlossScale);
        assertClose("dlogits", download(kernels, dlogits), numericGradient(f, inputs, 0, scale), GRADIENT_TOLERANCE);
    }
}
