package io.streamtrain.model.cpu.internal;

/**
 * The exponential of the CPU kernels (attention's softmax, gelu, the cross-entropy): a Cody-Waite reduction and
 * a degree-6 polynomial (Cephes expf) over arrays indexed from 0, so that HotSpot vectorizes it (see
 * {@link MicroKernel}); within 1e-7 relative error and several times faster than {@code (float) Math.exp(x)}.
 */
public final class Exp {
    private static final float LOG2E = 1.44269504088896341f;
    /** 1.5 * 2^23: adding it rounds to an integer that lands in the low mantissa bits. */
    private static final float ROUNDING = 12582912f;
    private static final int ROUNDING_BITS = 0x4B400000;
    private static final float LN2_HIGH = 0.693359375f;
    private static final float LN2_LOW = -2.12194440e-4f;
    /** exp is evaluated on [-87, 88]: results stay normal floats (e^-87 is about 1.6e-38). */
    private static final float EXP_MIN = -87f;
    private static final float EXP_MAX = 88f;

    private Exp() {
    }

    /** x[i] = exp(x[i]) for i < n, with x clamped to [-87, 88]; t (n) is work space. NaN stays NaN. */
    public static void exp(float[] x, float[] t, int n) {
        // vectorized: the reduction x = k ln2 + r and the polynomial for e^r
        for (int i = 0; i < n; i++) {
            float v = Math.min(Math.max(x[i], EXP_MIN), EXP_MAX);
            float k = Math.fma(v, LOG2E, ROUNDING); // k + 1.5 * 2^23, k = round(v / ln2)
            t[i] = k;
            float fk = k - ROUNDING;
            float r = Math.fma(fk, -LN2_HIGH, v);
            r = Math.fma(fk, -LN2_LOW, r);
            float p = 1.9875691500E-4f;
            p = Math.fma(p, r, 1.3981999507E-3f);
            p = Math.fma(p, r, 8.3334519073E-3f);
            p = Math.fma(p, r, 4.1665795894E-2f);
            p = Math.fma(p, r, 1.6666665459E-1f);
            p = Math.fma(p, r, 5.0000001201E-1f);
            x[i] = Math.fma(p, r * r, r) + 1f;
        }
        // scalar (C2 does not vectorize bit casts): multiply by 2^k, built from k's bits
        for (int i = 0; i < n; i++) {
            int k = Float.floatToRawIntBits(t[i]) - ROUNDING_BITS;
            x[i] *= Float.intBitsToFloat((k + 127) << 23);
        }
    }

}
