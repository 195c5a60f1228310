package io.streamtrain.model;

import java.util.Objects;

/**
 * lr(step): linear warm-up over {@code warmupSteps} to {@code peak}, then constant, or cosine down to
 * {@code peak * floorRatio} at {@code decaySteps} and constant at that floor after it.
 *
 * @param peak        the learning rate at the end of warm-up
 * @param warmupSteps steps of linear warm-up: lr(s) = peak * s / warmupSteps for s &lt;= warmupSteps
 * @param decay       what follows warm-up
 * @param decaySteps  the step at which the cosine reaches its floor (ignored for {@link Decay#CONSTANT})
 * @param floorRatio  the floor of the cosine as a fraction of {@code peak}, in [0, 1]
 */
public record LearningRateSchedule(double peak, long warmupSteps, Decay decay, long decaySteps, double floorRatio) {

    /** What follows warm-up. */
    public enum Decay { CONSTANT, COSINE }

    public LearningRateSchedule {
        Objects.requireNonNull(decay, "decay");
        require(Double.isFinite(peak) && peak > 0, "peak learning rate must be positive and finite, got " + peak);
        require(warmupSteps >= 0, "warm-up steps must not be negative, got " + warmupSteps);
        require(floorRatio >= 0 && floorRatio <= 1, "floor ratio must be in [0, 1], got " + floorRatio);
        require(decay == Decay.CONSTANT || decaySteps > warmupSteps,
                "cosine decay steps (" + decaySteps + ") must be greater than warm-up steps (" + warmupSteps + ")");
    }

    /** Linear warm-up to {@code peak}, then constant. */
    public static LearningRateSchedule constant(double peak, long warmupSteps) {
        return new LearningRateSchedule(peak, warmupSteps, Decay.CONSTANT, 0, 1.0);
    }

    /** Linear warm-up to {@code peak}, then cosine down to {@code peak * floorRatio} at {@code decaySteps}. */
    public static LearningRateSchedule cosine(double peak, long warmupSteps, long decaySteps, double floorRatio) {
        return new LearningRateSchedule(peak, warmupSteps, Decay.COSINE, decaySteps, floorRatio);
    }

    /** The learning rate of optimizer step {@code step}, counting from 1. */
    public double at(long step) {
        if (step < 1) {
            throw new IllegalArgumentException("learning-rate steps count from 1, got " + step);
        }
        if (step <= warmupSteps) {
            return peak * step / warmupSteps;
        }
        if (decay == Decay.CONSTANT) {
            return peak;
        }
        double floor = peak * floorRatio;
        if (step >= decaySteps) {
            return floor;
        }
        double progress = (double) (step - warmupSteps) / (decaySteps - warmupSteps); // (0, 1)
        return floor + 0.5 * (1 + Math.cos(Math.PI * progress)) * (peak - floor);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException("invalid learning-rate schedule: " + message);
        }
    }
}
