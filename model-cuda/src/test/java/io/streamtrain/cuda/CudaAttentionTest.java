package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.ReferenceKernels;
import io.streamtrain.model.Tensor;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The tensor-core attention (forward, and the one-pass backward with dq added by atomics) against the plain-loop
 * reference in double, at the head sizes the kit does not reach: 64 (small and gpt2), with T no multiple of the
 * 64-row tiles, several heads and batch rows, from the bf16 copies (head size a multiple of 8) and from fp32 (60).
 * Outputs start as NaN, so an element the kernels forget fails; NaN never passes.
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaAttentionTest {

    /** bf16 operands on tensor cores, through a softmax: as the kit's attention tolerance. */
    private static final double TOLERANCE = 2e-2;

    record Shape(int B, int T, int C, int NH) {
        @Override
        public String toString() {
            return "B=" + B + " T=" + T + " C=" + C + " NH=" + NH + " (head size " + C / NH + ")";
        }
    }

    static Stream<Shape> shapes() {
        return Stream.of(
                new Shape(2, 200, 384, 6),   // small's heads, T = 3 tiles + 8
                new Shape(1, 300, 768, 12),  // gpt2's heads, T = 4 tiles + 44
                new Shape(3, 64, 128, 2),    // exactly one tile
                new Shape(2, 1, 128, 2),     // one position
                new Shape(1, 129, 120, 2),   // head size 60: fp32 operands, padded to 64
                new Shape(2, 97, 96, 3));    // head size 32
    }

    private static Tensor upload(Kernels k, float[] host) {
        Tensor t = k.allocate(host.length);
        k.write(t, host, 0);
        return t;
    }

    private static float[] download(Kernels k, Tensor t, int n) {
        float[] host = new float[n];
        k.read(host, 0, t);
        return host;
    }

    /** out and dqkv of forward and backward on {@code k}. */
    private static float[][] run(Kernels k, float[] qkv, float[] dout, Shape s) {
        int n = s.B * s.T * s.C;
        float[] nan = new float[3 * n];
        Arrays.fill(nan, Float.NaN);
        Tensor q = upload(k, qkv);
        Tensor out = upload(k, Arrays.copyOf(nan, n));
        Tensor stats = k.allocate(k.attentionStatisticsSize(s.B, s.T, s.NH));
        k.attentionForward(out, stats, q, s.B, s.T, s.C, s.NH);
        Tensor dqkv = upload(k, nan);
        k.attentionBackward(dqkv, upload(k, dout), q, out, stats, s.B, s.T, s.C, s.NH);
        return new float[][] {download(k, out, n), download(k, dqkv, 3 * n)};
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInForwardAndOnePassBackward(Shape s) {
        Random random = new Random(s.T * 31L + s.C);
        float[] qkv = new float[3 * s.B * s.T * s.C];
        float[] dout = new float[s.B * s.T * s.C];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (random.nextFloat() * 2 - 1) * 2;
        }
        for (int i = 0; i < dout.length; i++) {
            dout[i] = random.nextFloat() * 2 - 1;
        }
        try (CudaKernels gpu = CudaTesting.openOrSkip(); ReferenceKernels reference = new ReferenceKernels()) {
            float[][] expected = run(reference, qkv, dout, s);
            float[][] actual = run(gpu, qkv, dout, s);
            String[] names = {"out", "dqkv"};
            for (int i = 0; i < 2; i++) {
                double error = CudaTesting.relativeError(expected[i], actual[i]);
                System.out.printf("attention %s, %s: max relative error %.3e (tolerance %.0e)%n", names[i], s, error,
                        TOLERANCE);
                assertTrue(error < TOLERANCE, names[i] + " at " + s + ": relative error " + error
                        + "; first values " + Arrays.toString(Arrays.copyOf(actual[i], 4)) + " against "
                        + Arrays.toString(Arrays.copyOf(expected[i], 4)));
            }
        }
    }
}
