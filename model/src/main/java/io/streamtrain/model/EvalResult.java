package io.streamtrain.model;

/**
 * The figures of a batch evaluated without an update.
 *
 * @param loss     mean cross-entropy in nats
 * @param accuracy fraction of positions whose argmax equals the target
 */
public record EvalResult(double loss, double accuracy) {}
