package io.streamtrain.trainer.internal;

import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.trainer.DeadLetterReason;
import java.util.Locale;

/**
 * Tells a loss spike from an ordinary loss: a loss above {@code ratio} times the exponential moving average of the
 * losses of applied steps (weight {@value #WEIGHT} for the newest), once {@code warmupSteps} steps have given the
 * average a history. Shared by the processors of every task, like the model; each rank of a world has its own, fed
 * with the global steps' losses, and judges its own batch. Not thread-safe (one stream thread, one rank loop).
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

    /**
     * Refuses {@code batch}, whose loss before its step is {@code loss}, when that is a spike.
     *
     * @throws BadBatchException {@link DeadLetterReason#LOSS_SPIKE}, naming the batch, its loss and the limit
     */
    public void refuseSpike(TokenBatch batch, double loss) {
        if (isSpike(loss)) {
            throw new BadBatchException(DeadLetterReason.LOSS_SPIKE, BatchValidator.describe(batch) + " has loss "
                    + String.format(Locale.ROOT, "%.4f", loss) + ", above "
                    + String.format(Locale.ROOT, "%.4f", limit()) + " (loss.spike.ratio times the recent average);"
                    + " it was not trained");
        }
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
