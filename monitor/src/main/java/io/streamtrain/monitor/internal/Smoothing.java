package io.streamtrain.monitor.internal;

/**
 * Exponential moving average with bias correction (as TensorBoard smooths): {@code s = w s + (1 - w) x},
 * shown as {@code s / (1 - w^n)} after n values, so the first points are not pulled toward 0.
 * The dashboard's dashboard.js computes the same with the same weight.
 */
public final class Smoothing {
    /** Weight of the past; 0.9 averages over about the last 10 steps. */
    public static final double EMA_WEIGHT = 0.9;

    private Smoothing() {}

    /** Smoothed values of {@code values} in order; a value that is not finite is skipped and its output is NaN. */
    public static double[] ema(double[] values, double weight) {
        double[] smoothed = new double[values.length];
        double average = 0;
        double weightPower = 1;
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                smoothed[i] = Double.NaN;
                continue;
            }
            average = weight * average + (1 - weight) * values[i];
            weightPower *= weight;
            smoothed[i] = average / (1 - weightPower);
        }
        return smoothed;
    }
}
