package io.streamtrain.model;

/**
 * What one training step returns.
 *
 * @param loss         mean cross-entropy of the batch in nats, before the update
 * @param accuracy     fraction of positions whose argmax equals the target
 * @param gradientNorm global L2 norm of the gradients before clipping
 * @param learningRate the learning rate of this step's update
 * @param applied      false when the update was skipped because the gradient norm was not finite
 *                     (NaN or infinite loss or gradients); the step counter then does not advance
 */
public record StepResult(double loss, double accuracy, double gradientNorm, double learningRate, boolean applied) {}
