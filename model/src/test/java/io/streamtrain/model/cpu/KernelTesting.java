package io.streamtrain.model.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.Random;
import java.util.function.Function;

/** Uploads, downloads, finite differences and relative-error checks for the CPU kernel tests. */
final class KernelTesting {
    private KernelTesting() {
    }

    /** Random floats, uniform in [-scale, scale). */
    static float[] randomFloats(Random random, int n, float scale) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (random.nextFloat() * 2 - 1) * scale;
        }
        return x;
    }

    static int[] randomInts(Random random, int n, int bound) {
        int[] x = new int[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextInt(bound);
        }
        return x;
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    /** A tensor holding {@code data}, as a view at an odd offset of a larger allocation, so offsets are exercised. */
    static Tensor upload(Kernels kernels, float[] data) {
        Tensor t = kernels.allocate(data.length + 8L).slice(3, data.length);
        kernels.write(t, data, 0);
        return t;
    }

    static IntTensor uploadInts(Kernels kernels, int[] data) {
        IntTensor t = kernels.allocateInts(data.length + 8L).slice(5, data.length);
        kernels.writeInts(t, data, 0, data.length);
        return t;
    }

    static float[] download(Kernels kernels, Tensor t) {
        float[] x = new float[(int) t.size()];
        kernels.read(x, 0, t);
        return x;
    }

    /**
     * Central finite differences, in double, of the scalar sum(weights * f(inputs)) with respect to
     * inputs[which]: the gradient a backward kernel must produce when its dout is {@code weights}.
     */
    static double[] numericGradient(Function<double[][], double[]> f, double[][] inputs, int which, double[] weights) {
        double h = 1e-6;
        double[] x = inputs[which];
        double[] gradient = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double saved = x[i];
            x[i] = saved + h;
            double plus = dot(weights, f.apply(inputs));
            x[i] = saved - h;
            double minus = dot(weights, f.apply(inputs));
            x[i] = saved;
            gradient[i] = (plus - minus) / (2 * h);
        }
        return gradient;
    }

    static double dot(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }

    /** max |actual - expected| / max(max |expected|, 1e-6); NaN when actual holds a NaN or infinity. */
    static double relativeError(float[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + " differs from the expected " + expected.length);
        }
        double maxDifference = 0;
        double maxExpected = 1e-6;
        for (int i = 0; i < actual.length; i++) {
            if (!Float.isFinite(actual[i])) {
                return Double.NaN;
            }
            maxDifference = Math.max(maxDifference, Math.abs(actual[i] - expected[i]));
            maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
        }
        return maxDifference / maxExpected;
    }

    /** Fails unless the relative error of actual against expected is at most tolerance (NaN never passes). */
    static void assertClose(String what, float[] actual, double[] expected, double tolerance) {
        double error = relativeError(actual, expected);
        assertTrue(error <= tolerance, what + ": relative error " + error + " exceeds " + tolerance);
    }

    static void assertClose(String what, float[] actual, float[] expected, double tolerance) {
        assertClose(what, actual, toDouble(expected), tolerance);
    }
}
