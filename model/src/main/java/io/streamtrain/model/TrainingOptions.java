package io.streamtrain.model;

import java.util.Objects;

/**
 * AdamW and gradient-clipping settings. Defaults ({@link #defaults()}): betas 0.9/0.95, eps 1e-8,
 * weight decay 0.1 (matrices and embeddings only), global gradient norm clipped at 1.0, learning rate
 * constant 3e-4 after 10 warm-up steps.
 *
 * @param schedule        learning rate per optimizer step
 * @param weightDecay     decoupled weight decay applied to the matrices and embeddings
 * @param beta1           AdamW first-moment decay
 * @param beta2           AdamW second-moment decay
 * @param eps             AdamW denominator epsilon
 * @param maxGradientNorm the global L2 norm the gradients are clipped to before the update
 */
public record TrainingOptions(LearningRateSchedule schedule, double weightDecay, double beta1, double beta2,
                              double eps, double maxGradientNorm) {

    public TrainingOptions {
        Objects.requireNonNull(schedule, "learning-rate schedule");
        require(weightDecay >= 0 && Double.isFinite(weightDecay), "weight decay must be >= 0, got " + weightDecay);
        require(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1), got " + beta1);
        require(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1), got " + beta2);
        require(eps > 0 && Double.isFinite(eps), "eps must be positive, got " + eps);
        require(maxGradientNorm > 0, "max gradient norm must be positive (Infinity disables clipping), got "
                + maxGradientNorm);
    }

    /** The defaults of the reference trainer. */
    public static TrainingOptions defaults() {
        return new TrainingOptions(LearningRateSchedule.constant(3e-4, 10), 0.1, 0.9, 0.95, 1e-8, 1.0);
    }

    /** These options with another learning-rate schedule. */
    public TrainingOptions withSchedule(LearningRateSchedule schedule) {
        return new TrainingOptions(schedule, weightDecay, beta1, beta2, eps, maxGradientNorm);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException("invalid training options: " + message);
        }
    }
}
