package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The compatibility kit every {@link Kernels} backend extends: each kernel runs on fresh random inputs
 * of several shapes (sizes that are not multiples of any tile included) on the backend under test and
 * on the reference ({@link ReferenceKernels}, plain loops in double, unless {@link #createReference} says
 * otherwise), and every output must agree within {@link #tolerance} in max relative error
 * (max |actual - expected| / max |expected|). NaN never passes, and outputs that a kernel overwrites are
 * poisoned with NaN first, so an element the backend forgets to write fails. Gradients start from the
 * same random values on both sides, so accumulation is checked too. Each comparison prints one line:
 * kernel, output, shape, error, tolerance.
 */
public abstract class KernelsCompatibilityTest {

    /** The backend under test; closed after each test. */
    protected abstract Kernels createKernels();

    /** What the backend under test is compared with: the plain-loop ground truth unless a subclass says otherwise. */
    protected Kernels createReference() {
        return new ReferenceKernels();
    }

    /**
     * Max relative error allowed for the outputs of {@code kernel}, a {@link Kernels} method name:
     * encoderForward, encoderBackward, layernormForward, layernormBackward, matmulForward, matmulBackward,
     * attentionForward, attentionBackward, geluForward, geluBackward, residualForward,
     * softmaxCrossEntropy, globalNorm, mean, adamw, attentionDecode, copy, fill. ({@code sample} must
     * return the same ids.)
     */
    protected double tolerance(String kernel) {
        return 1e-5;
    }

    /** B, T, C, NH, V, Vp of one test case. */
    protected record Shape(int B, int T, int C, int NH, int V, int Vp) {
        int N() {
            return B * T;
        }

        @Override
        public String toString() {
            return "B=" + B + " T=" + T + " C=" + C + " NH=" + NH + " V=" + V + " Vp=" + Vp;
        }
    }

    /** The shapes every kernel runs on. */
    protected static Stream<Shape> shapes() {
        return Stream.of(
                new Shape(1, 1, 8, 1, 5, 64),       // one position, one head
                new Shape(2, 5, 8, 2, 13, 64),      // the gradient tests' shape
                new Shape(3, 37, 48, 3, 100, 128),  // odd T, a padded vocabulary
                new Shape(2, 67, 80, 5, 1000, 1024),  // nothing a multiple of a 16, 32 or 64 tile but Vp
                new Shape(1, 256, 128, 4, 8192, 8192)); // one row of the tiny model's benchmark batch
    }

    private Kernels tested;
    private Kernels reference;
    private Random random;
    private Shape shape;

    @BeforeEach
    void open() {
        tested = createKernels();
        reference = createReference();
    }

    @AfterEach
    void close() {
        for (Side side : Side.values()) {
            kernels(side).close();
        }
    }

    // ---- one value on both backends --------------------------------------------------------

    /** Which backend a call goes to: every kernel runs once on each side, with the same inputs. */
    private enum Side { TESTED, REFERENCE }

    private Kernels kernels(Side side) {
        return side == Side.TESTED ? tested : reference;
    }

    /** The same host data on the backend under test and on the reference. */
    private record Pair(Tensor tested, Tensor reference, int size) {
        Tensor on(Side side) {
            return side == Side.TESTED ? tested : reference;
        }
    }

    private record IntPair(IntTensor tested, IntTensor reference) {
        IntTensor on(Side side) {
            return side == Side.TESTED ? tested : reference;
        }
    }

    private Pair input(float[] host) {
        Tensor t = tested.allocate(host.length);
        tested.write(t, host, 0);
        Tensor r = reference.allocate(host.length);
        reference.write(r, host, 0);
        return new Pair(t, r, host.length);
    }

    private Pair randomInput(long size, float scale) {
        float[] host = new float[(int) size];
        for (int i = 0; i < host.length; i++) {
            host[i] = (random.nextFloat() * 2 - 1) * scale;
        }
        return input(host);
    }

    /** An output the kernel overwrites: NaN on both sides until the kernel writes it. */
    private Pair output(long size) {
        float[] nan = new float[(int) size];
        Arrays.fill(nan, Float.NaN);
        return input(nan);
    }

    private IntPair ints(int[] host) {
        IntTensor t = tested.allocateInts(host.length);
        tested.writeInts(t, host, 0, host.length);
        IntTensor r = reference.allocateInts(host.length);
        reference.writeInts(r, host, 0, host.length);
        return new IntPair(t, r);
    }

    private IntPair randomTokens(int n, int bound) {
        int[] host = new int[n];
        for (int i = 0; i < n; i++) {
            host[i] = random.nextInt(bound);
        }
        return ints(host);
    }

    private void begin(Shape shape, String kernel) {
        this.shape = shape;
        int seed = Arrays.hashCode(new int[] {shape.B, shape.T, shape.C, shape.NH, shape.V}) ^ kernel.hashCode();
        this.random = new Random(seed);
    }

    /** Compares one output of {@code kernel}, prints the error and fails above the tolerance or on NaN. */
    private void expect(String kernel, String output, Pair pair) {
        float[] actual = new float[pair.size];
        tested.read(actual, 0, pair.tested);
        float[] expected = new float[pair.size];
        reference.read(expected, 0, pair.reference);
        double maxDifference = 0;
        double maxExpected = 1e-6;
        int worst = -1;
        for (int i = 0; i < actual.length; i++) {
            double difference = Math.abs((double) actual[i] - expected[i]);
            if (Double.isNaN(difference) || difference > maxDifference) {
                maxDifference = Double.isNaN(difference) ? Double.NaN : difference;
                worst = i;
                if (Double.isNaN(difference)) {
                    break;
                }
            }
            maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
        }
        double error = maxDifference / maxExpected;
        double tolerance = tolerance(kernel);
        System.out.printf("%-20s %-8s %-40s max relative error %.3e (tolerance %.1e)%n",
                kernel, output, shape, error, tolerance);
        int at = worst;
        assertTrue(error <= tolerance, () -> kernel + " " + output + " at " + shape + ": relative error " + error
                + " exceeds " + tolerance + (at >= 0 ? "; worst element " + at + ": " + actual[at] + " vs reference "
                + expected[at] : ""));
    }

    // ---- the kernels -----------------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInEncoderForwardAndBackward(Shape s) {
        begin(s, "encoder");
        IntPair tokens = randomTokens(s.N(), s.V);
        Pair wte = randomInput((long) s.Vp * s.C, 1f);
        Pair wpe = randomInput((long) s.T * s.C, 1f);
        Pair out = output((long) s.N() * s.C);
        for (Side side : Side.values()) {
            kernels(side).encoderForward(out.on(side), tokens.on(side), wte.on(side), wpe.on(side), s.B, s.T, s.C);
        }
        expect("encoderForward", "out", out);

        Pair dwte = randomInput((long) s.Vp * s.C, 1f);
        Pair dwpe = randomInput((long) s.T * s.C, 1f);
        Pair dout = randomInput((long) s.N() * s.C, 1f);
        for (Side side : Side.values()) {
            kernels(side).encoderBackward(dwte.on(side), dwpe.on(side), dout.on(side), tokens.on(side), s.B, s.T, s.C);
        }
        expect("encoderBackward", "dwte", dwte);
        expect("encoderBackward", "dwpe", dwpe);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInLayernormForwardAndBackward(Shape s) {
        begin(s, "layernorm");
        int N = s.N();
        int C = s.C;
        Pair inp = randomInput((long) N * C, 3f);
        Pair weight = randomInput(C, 1.5f);
        Pair bias = randomInput(C, 1f);
        Pair out = output((long) N * C);
        Pair mean = output(N);
        Pair rstd = output(N);
        for (Side side : Side.values()) {
            kernels(side).layernormForward(out.on(side), mean.on(side), rstd.on(side), inp.on(side),
                    weight.on(side), bias.on(side), N, C);
        }
        expect("layernormForward", "out", out);
        expect("layernormForward", "mean", mean);
        expect("layernormForward", "rstd", rstd);

        Pair dinp = randomInput((long) N * C, 1f);
        Pair dweight = randomInput(C, 1f);
        Pair dbias = randomInput(C, 1f);
        Pair dout = randomInput((long) N * C, 1f);
        for (Side side : Side.values()) {
            kernels(side).layernormBackward(dinp.on(side), dweight.on(side), dbias.on(side), dout.on(side),
                    inp.on(side), weight.on(side), mean.on(side), rstd.on(side), N, C);
        }
        expect("layernormBackward", "dinp", dinp);
        expect("layernormBackward", "dweight", dweight);
        expect("layernormBackward", "dbias", dbias);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInMatmulOfEveryLayerShape(Shape s) {
        begin(s, "matmul");
        int C = s.C;
        checkMatmul(s.N(), C, 3 * C, true);   // qkv
        checkMatmul(s.N(), C, 4 * C, true);   // fc
        checkMatmul(s.N(), 4 * C, C, true);   // fc projection
        checkMatmul(s.N(), C, s.Vp, false);   // the lm head, no bias
    }

    private void checkMatmul(int N, int C, int OC, boolean withBias) {
        Pair inp = randomInput((long) N * C, 1f);
        Pair weight = randomInput((long) OC * C, 1f);
        Pair bias = withBias ? randomInput(OC, 1f) : null;
        Pair out = output((long) N * OC);
        for (Side side : Side.values()) {
            kernels(side).matmulForward(out.on(side), inp.on(side), weight.on(side),
                    withBias ? bias.on(side) : null, N, C, OC);
        }
        expect("matmulForward", "out", out);

        Pair dinp = output((long) N * C);  // written: every element, whatever was there
        Pair dweight = randomInput((long) OC * C, 1f);
        Pair dbias = randomInput(OC, 1f);
        Pair dout = randomInput((long) N * OC, 1f);
        for (Side side : Side.values()) {
            kernels(side).matmulBackward(dinp.on(side), dweight.on(side), withBias ? dbias.on(side) : null,
                    dout.on(side), inp.on(side), weight.on(side), N, C, OC);
        }
        expect("matmulBackward", "dinp", dinp);
        expect("matmulBackward", "dweight", dweight);
        expect("matmulBackward", "dbias", dbias); // untouched without a bias: must still agree
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInAttentionForwardAndBackward(Shape s) {
        begin(s, "attention");
        Pair qkv = randomInput((long) s.N() * 3 * s.C, 2f);
        Pair out = output((long) s.N() * s.C);
        // each backend keeps its own statistics, in its own format: never compared
        Pair stats = new Pair(tested.allocate(tested.attentionStatisticsSize(s.B, s.T, s.NH)),
                reference.allocate(reference.attentionStatisticsSize(s.B, s.T, s.NH)), 0);
        for (Side side : Side.values()) {
            kernels(side).attentionForward(out.on(side), stats.on(side), qkv.on(side), s.B, s.T, s.C, s.NH);
        }
        expect("attentionForward", "out", out);

        Pair dqkv = output((long) s.N() * 3 * s.C);  // written, not accumulated
        Pair dout = randomInput((long) s.N() * s.C, 1f);
        for (Side side : Side.values()) {
            kernels(side).attentionBackward(dqkv.on(side), dout.on(side), qkv.on(side), out.on(side), stats.on(side),
                    s.B, s.T, s.C, s.NH);
        }
        expect("attentionBackward", "dqkv", dqkv);
    }

    /** The drop probability and a mask key of the dropout tests (the trainer's nanoGPT setting). */
    private static final float DROPOUT = 0.2f;
    private static final long DROPOUT_KEY = 0x5DEECE66DL;

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInAttentionWithDropoutOnItsWeights(Shape s) {
        assumeTrue(tested.supportsDropout(), () -> tested.backendName() + " has no dropout kernels");
        begin(s, "attentionDropout");
        Pair qkv = randomInput((long) s.N() * 3 * s.C, 2f);
        Pair out = output((long) s.N() * s.C);
        Pair stats = new Pair(tested.allocate(tested.attentionStatisticsSize(s.B, s.T, s.NH)),
                reference.allocate(reference.attentionStatisticsSize(s.B, s.T, s.NH)), 0);
        for (Side side : Side.values()) {
            kernels(side).attentionForward(out.on(side), stats.on(side), qkv.on(side), s.B, s.T, s.C, s.NH, DROPOUT,
                    DROPOUT_KEY);
        }
        expect("attentionForward", "out", out);
        Pair dqkv = output((long) s.N() * 3 * s.C);
        Pair dout = randomInput((long) s.N() * s.C, 1f);
        for (Side side : Side.values()) {
            kernels(side).attentionBackward(dqkv.on(side), dout.on(side), qkv.on(side), out.on(side), stats.on(side),
                    s.B, s.T, s.C, s.NH, DROPOUT, DROPOUT_KEY);
        }
        expect("attentionBackward", "dqkv", dqkv);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldDropTheSameElementsAsTheReference(Shape s) {
        assumeTrue(tested.supportsDropout(), () -> tested.backendName() + " has no dropout kernels");
        begin(s, "dropout");
        int n = s.N() * s.C;
        Pair inp = randomInput(n, 1f);
        Pair out = output(n);
        for (Side side : Side.values()) {
            kernels(side).dropout(out.on(side), inp.on(side), DROPOUT, DROPOUT_KEY, n);
        }
        expect("dropout", "out", out);
        expectSameZeros("dropout", out);
        Pair inPlace = randomInput(n, 1f);
        for (Side side : Side.values()) {
            kernels(side).dropout(inPlace.on(side), inPlace.on(side), DROPOUT, DROPOUT_KEY + 1, n);
        }
        expect("dropout", "in place", inPlace);
        expectSameZeros("dropout in place", inPlace);
        Pair a = randomInput(n, 1f);
        Pair sum = output(n);
        for (Side side : Side.values()) {
            kernels(side).residualDropoutForward(sum.on(side), a.on(side), inp.on(side), DROPOUT, DROPOUT_KEY, n);
        }
        expect("residualDropoutForward", "out", sum);
    }

    /** The elements that are exactly 0 on the reference are exactly 0 on the backend under test, and only they. */
    private void expectSameZeros(String what, Pair pair) {
        float[] actual = new float[pair.size];
        tested.read(actual, 0, pair.tested);
        float[] expected = new float[pair.size];
        reference.read(expected, 0, pair.reference);
        int zeros = 0;
        for (int i = 0; i < actual.length; i++) {
            int at = i;
            assertTrue((actual[i] == 0f) == (expected[i] == 0f), () -> what + " at " + shape + ": element " + at
                    + " is " + actual[at] + " on the backend under test but " + expected[at] + " on the reference");
            zeros += expected[i] == 0f ? 1 : 0;
        }
        double fraction = (double) zeros / actual.length;
        System.out.printf("%-20s %-8s %-40s dropped %.3f of %d (p %.2f)%n", what, "mask", shape, fraction,
                actual.length, DROPOUT);
        assertTrue(actual.length < 100 || Math.abs(fraction - DROPOUT) < 0.1, () -> what + " dropped " + fraction
                + " of the elements, not about " + DROPOUT);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInGeluAndResidual(Shape s) {
        begin(s, "gelu");
        int n = s.N() * 4 * s.C;
        Pair inp = randomInput(n, 5f);
        Pair out = output(n);
        for (Side side : Side.values()) {
            kernels(side).geluForward(out.on(side), inp.on(side), n);
        }
        expect("geluForward", "out", out);
        Pair dinp = output(n);  // written, not accumulated
        Pair dout = randomInput(n, 1f);
        for (Side side : Side.values()) {
            kernels(side).geluBackward(dinp.on(side), dout.on(side), inp.on(side), n);
        }
        expect("geluBackward", "dinp", dinp);

        int m = s.N() * s.C;
        Pair a = randomInput(m, 1f);
        Pair b = randomInput(m, 1f);
        Pair sum = output(m);
        for (Side side : Side.values()) {
            kernels(side).residualForward(sum.on(side), a.on(side), b.on(side), m);
        }
        expect("residualForward", "out", sum);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInSoftmaxCrossEntropySeparateAndInPlace(Shape s) {
        begin(s, "softmaxCrossEntropy");
        int N = s.N();
        float[] host = new float[N * s.Vp];
        for (int i = 0; i < host.length; i++) {
            host[i] = (random.nextFloat() * 2 - 1) * 4f;
        }
        IntPair targets = randomTokens(N, s.V);
        float scale = 1f / N;
        for (boolean inPlace : new boolean[] {false, true}) {
            Pair logits = input(host);
            Pair losses = output(N);
            Pair correct = output(N);
            Pair dlogits = inPlace ? logits : output((long) N * s.Vp);
            for (Side side : Side.values()) {
                kernels(side).softmaxCrossEntropy(losses.on(side), correct.on(side), dlogits.on(side),
                        logits.on(side), targets.on(side), scale, true, N, s.V, s.Vp);
            }
            expect("softmaxCrossEntropy", "losses", losses);
            expect("softmaxCrossEntropy", "correct", correct);
            expect("softmaxCrossEntropy", inPlace ? "dlogits (in place)" : "dlogits", dlogits);
        }
        // forward only: dlogits is neither needed nor touched
        Pair logits = input(host);
        Pair losses = output(N);
        Pair correct = output(N);
        for (Side side : Side.values()) {
            kernels(side).softmaxCrossEntropy(losses.on(side), correct.on(side), null, logits.on(side),
                    targets.on(side), scale, false, N, s.V, s.Vp);
        }
        expect("softmaxCrossEntropy", "losses (forward only)", losses);
        expect("softmaxCrossEntropy", "logits (untouched)", logits);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInReductionsAndAdamw(Shape s) {
        begin(s, "adamw");
        int n = s.N() * s.C * 7 + 13;
        Pair grads = randomInput(n, 1f);
        Pair norm = output(1);
        for (Side side : Side.values()) {
            kernels(side).globalNorm(norm.on(side), grads.on(side), n);
        }
        expect("globalNorm", "out", norm);
        Pair mean = output(1);
        for (Side side : Side.values()) {
            kernels(side).mean(mean.on(side), grads.on(side), n);
        }
        expect("mean", "out", mean);

        Pair params = randomInput(n, 1f);
        Pair m = randomInput(n, 0.1f);
        Pair v = input(new float[n]);
        for (int step = 1; step <= 3; step++) {
            for (Side side : Side.values()) {
                kernels(side).adamw(params.on(side), m.on(side), v.on(side), grads.on(side), norm.on(side), n,
                        n / 3, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1f, step);
            }
        }
        expect("adamw", "params", params);
        expect("adamw", "m", m);
        expect("adamw", "v", v);
    }

    @Test
    void shouldSkipTheAdamwStepOnANonFiniteNormAsTheReferenceDoes() {
        begin(new Shape(1, 1, 8, 1, 5, 64), "adamw skip");
        int n = 1000;
        Pair params = randomInput(n, 1f);
        Pair m = randomInput(n, 0.1f);
        Pair v = randomInput(n, 0.1f);
        Pair grads = randomInput(n, 1f);
        Pair norm = input(new float[] {Float.NaN});
        for (Side side : Side.values()) {
            kernels(side).adamw(params.on(side), m.on(side), v.on(side), grads.on(side), norm.on(side), n, n, 1e-2f,
                    0.9f, 0.95f, 1e-8f, 0.1f, 1f, 1);
        }
        expect("adamw", "params (skipped)", params);
        expect("adamw", "m (skipped)", m);
        expect("adamw", "v (skipped)", v);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldMatchTheReferenceInAttentionDecode(Shape s) {
        begin(s, "attentionDecode");
        int position = s.T - 1;
        Pair q = randomInput(s.C, 2f);
        Pair kcache = randomInput((long) s.T * s.C, 2f);
        Pair vcache = randomInput((long) s.T * s.C, 2f);
        Pair out = output(s.C);
        for (Side side : Side.values()) {
            kernels(side).attentionDecode(out.on(side), q.on(side), kcache.on(side), vcache.on(side), position, s.C,
                    s.NH);
        }
        expect("attentionDecode", "out", out);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void shouldSampleTheSameIdsAsTheReference(Shape s) {
        begin(s, "sample");
        Pair logits = randomInput(s.Vp, 3f);
        IntPair out = ints(new int[1]);
        float[] temperatures = {0f, 1f, 0.7f, 1.3f};
        int[] topKs = {0, 0, 5, 40};
        for (int setting = 0; setting < temperatures.length; setting++) {
            float temperature = temperatures[setting];
            int topK = topKs[setting];
            for (int draw = 0; draw < 8; draw++) {
                Pair coin = input(new float[] {random.nextFloat()});
                for (Side side : Side.values()) {
                    kernels(side).sample(out.on(side), logits.on(side), coin.on(side), temperature, topK, s.V);
                }
                int[] actual = new int[1];
                int[] expected = new int[1];
                tested.readInts(actual, 0, out.tested);
                reference.readInts(expected, 0, out.reference);
                assertArrayEquals(expected, actual, "sample at " + s + ", temperature " + temperature + ", top-k "
                        + topK);
            }
        }
    }

    @Test
    void shouldFillCopyAndRoundTripThroughHostMemory() {
        begin(new Shape(1, 1, 8, 1, 5, 64), "memory");
        Pair a = randomInput(1001, 1f);
        Pair b = output(1001);
        for (Side side : Side.values()) {
            kernels(side).copy(b.on(side), a.on(side));
        }
        expect("copy", "out", b);
        Pair c = output(999);
        for (Side side : Side.values()) {
            kernels(side).fill(c.on(side).slice(10, 900), 0.25f);
        }
        for (Side side : Side.values()) {
            kernels(side).fill(c.on(side).slice(0, 10), -1f);
        }
        for (Side side : Side.values()) {
            kernels(side).fill(c.on(side).slice(910, 89), 3f);
        }
        expect("fill", "out", c);
    }
}
