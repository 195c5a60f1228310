package io.streamtrain.model.cpu.internal;

/**
 * The one vectorized loop of the CPU backend: accumulator rows y_r += sum over k of coef[k * 4 + r] * panel[k],
 * four rows at a time. Panel rows and accumulator rows are separate arrays indexed from 0, because that
 * is the form HotSpot C2 (Java 17) vectorizes: {@code y[j] += a * x[j]} becomes AVX code, while
 * {@code y[yo + j] += a * x[xo + j]} (two invariant offsets into arrays that may be the same) and float
 * reductions such as dot products stay scalar. Every sum runs over k in pairs, in order, with fused
 * multiply-adds, whatever the number of rows, so a row's result does not depend on its neighbours.
 */
public final class MicroKernel {
    private MicroKernel() {
    }

    /** acc[first + r][0..len) += sum over k < K of coef[k * 4 + r] * panel[k][0..len), for r < rows (1 to 4). */
    public static void accumulate(float[][] acc, int first, int rows, float[][] panel, float[] coef, int K, int len) {
        if (rows == 4) {
            accumulate4(acc[first], acc[first + 1], acc[first + 2], acc[first + 3], panel, coef, K, len);
        } else {
            for (int r = 0; r < rows; r++) {
                accumulate1(acc[first + r], panel, coef, r, K, len);
            }
        }
    }

    /**
     * The micro-kernel: four rows, two reduction steps per pass. Wider forms (more rows or steps) exceed
     * what C2 vectorizes and run several times slower.
     */
    private static void accumulate4(float[] y0, float[] y1, float[] y2, float[] y3, float[][] panel, float[] coef,
                                    int K, int len) {
        int k = 0;
        for (; k + 2 <= K; k += 2) {
            float[] x0 = panel[k];
            float[] x1 = panel[k + 1];
            int c = k * 4;
            float a0 = coef[c], b0 = coef[c + 1], c0 = coef[c + 2], d0 = coef[c + 3];
            float a1 = coef[c + 4], b1 = coef[c + 5], c1 = coef[c + 6], d1 = coef[c + 7];
            for (int j = 0; j < len; j++) {
                float u = x0[j];
                float v = x1[j];
                y0[j] = Math.fma(a1, v, Math.fma(a0, u, y0[j]));
                y1[j] = Math.fma(b1, v, Math.fma(b0, u, y1[j]));
                y2[j] = Math.fma(c1, v, Math.fma(c0, u, y2[j]));
                y3[j] = Math.fma(d1, v, Math.fma(d0, u, y3[j]));
            }
        }
        if (k < K) {
            float[] x0 = panel[k];
            int c = k * 4;
            float a0 = coef[c], b0 = coef[c + 1], c0 = coef[c + 2], d0 = coef[c + 3];
            for (int j = 0; j < len; j++) {
                float u = x0[j];
                y0[j] = Math.fma(a0, u, y0[j]);
                y1[j] = Math.fma(b0, u, y1[j]);
                y2[j] = Math.fma(c0, u, y2[j]);
                y3[j] = Math.fma(d0, u, y3[j]);
            }
        }
    }

    /** One row: the remainder when rows are not a multiple of four; same order of operations as accumulate4. */
    public static void accumulate1(float[] y, float[][] panel, float[] coef, int r, int K, int len) {
        int k = 0;
        for (; k + 2 <= K; k += 2) {
            float[] x0 = panel[k];
            float[] x1 = panel[k + 1];
            float a0 = coef[k * 4 + r];
            float a1 = coef[k * 4 + 4 + r];
            for (int j = 0; j < len; j++) {
                y[j] = Math.fma(a1, x1[j], Math.fma(a0, x0[j], y[j]));
            }
        }
        if (k < K) {
            float[] x0 = panel[k];
            float a0 = coef[k * 4 + r];
            for (int j = 0; j < len; j++) {
                y[j] = Math.fma(a0, x0[j], y[j]);
            }
        }
    }
}
