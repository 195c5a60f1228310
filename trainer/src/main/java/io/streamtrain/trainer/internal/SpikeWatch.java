package io.streamtrain.trainer.internal;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Tells which applied steps were spikes, to report them (the step is trained all the same): a loss above
 * {@code lossRatio} times the average loss of the steps before it, or a gradient norm (before clipping) above
 * {@code gradientNormRatio} times their average gradient norm. The averages are exponential moving averages (weight
 * {@value #WEIGHT} for the newest step); the first {@value #WARMUP_STEPS} steps of the process only fill them. A spike
 * enters the averages like any step. Shared by the processors of every task, like the model. Not thread-safe (one
 * stream thread).
 */
public final class SpikeWatch {
    static final double WEIGHT = 0.1;
    static final int WARMUP_STEPS = 5;

    /** The kinds of spike, as the {@code kind} tag of the spikes counter. */
    public static final String LOSS = "loss";
    public static final String GRADIENT_NORM = "gradient-norm";

    /** What a step's spike was: each kind with its description; no kinds for an ordinary step. */
    public record Spike(List<String> kinds, String description) {
        public boolean any() {
            return !kinds.isEmpty();
        }
    }

    private static final Spike NONE = new Spike(List.of(), null);

    private final double lossRatio;
    private final double gradientNormRatio;
    private double loss;
    private double gradientNorm;
    private long steps;

    /** @param lossRatio 0 = no loss spikes; @param gradientNormRatio 0 = no gradient-norm spikes */
    public SpikeWatch(double lossRatio, double gradientNormRatio) {
        this.lossRatio = lossRatio;
        this.gradientNormRatio = gradientNormRatio;
    }

    /** Checks an applied step against the steps before it, then adds it to the averages. */
    public Spike check(double stepLoss, double stepGradientNorm) {
        List<String> kinds = new ArrayList<>(2);
        List<String> descriptions = new ArrayList<>(2);
        if (steps >= WARMUP_STEPS) {
            if (lossRatio > 0 && stepLoss > lossRatio * loss) {
                kinds.add(LOSS);
                descriptions.add(String.format(Locale.ROOT, "loss %.4f is %.1fx its recent average %.4f", stepLoss,
                        stepLoss / loss, loss));
            }
            if (gradientNormRatio > 0 && stepGradientNorm > gradientNormRatio * gradientNorm) {
                kinds.add(GRADIENT_NORM);
                descriptions.add(String.format(Locale.ROOT, "gradient norm %.1f is %.1fx its recent average %.2f",
                        stepGradientNorm, stepGradientNorm / gradientNorm, gradientNorm));
            }
        }
        if (Double.isFinite(stepLoss) && Double.isFinite(stepGradientNorm)) {
            loss = steps == 0 ? stepLoss : (1 - WEIGHT) * loss + WEIGHT * stepLoss;
            gradientNorm = steps == 0 ? stepGradientNorm : (1 - WEIGHT) * gradientNorm + WEIGHT * stepGradientNorm;
            steps++;
        }
        return kinds.isEmpty() ? NONE : new Spike(List.copyOf(kinds), String.join("; ", descriptions));
    }
}
