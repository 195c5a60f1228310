package io.streamtrain.model;

/**
 * How generation picks each token.
 *
 * @param temperature 0 = greedy (argmax); otherwise the softmax temperature, finite and positive
 * @param topK        sample among the topK most likely ids only; {@code <= 0} = no top-k cut
 */
public record SamplingOptions(float temperature, int topK) {

    public SamplingOptions {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("sampling temperature must be 0 (greedy) or positive and finite, got "
                    + temperature);
        }
    }
}
