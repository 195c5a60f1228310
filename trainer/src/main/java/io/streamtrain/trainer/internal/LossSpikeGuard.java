package io.streamtrain.trainer.internal;

/**
 * Tells a loss spike from an ordinary loss: a loss above {@code ratio} times the exponential moving average of the
 * losses of applied steps (weight {@value #WEIGHT} for the newest), once {@code warmupSteps} steps have given the
 * average a history. Shared by the processors of every task, like the model. Not thread-safe (one stream thread).
 */
public final class LossSpikeGuard {
    static final double WEIGHT = 0.2;

    private final double ratio;
    private final int warmupSteps;
    private double average = Double.NaN;
    private long steps;

    /** @param ratio 0 = off */
    public LossSpikeGuard(double ratio, int warmupSteps) {
        this.ratio = ratio;
        this.warmupSteps = warmupSteps;
    }

    /** Whether batches must be evaluated before their step. */
    public boolean enabled() {
        return ratio > 0;
    }

    /** Whether {@code loss} is a spike against the losses seen so far. */
    public boolean isSpike(double loss) {
        return enabled() && steps >= warmupSteps && !(loss <= ratio * average);
    }

    /** The limit a loss must stay under, for messages. */
    public double limit() {
        return ratio * average;
    }

    /** Adds the loss of an applied step to the average. */
    public void record(double loss) {
        average = steps == 0 ? loss : (1 - WEIGHT) * average + WEIGHT * loss;
        steps++;
    }
}
