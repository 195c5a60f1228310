package io.streamtrain.model.internal;

import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.ParameterTensor;
import io.streamtrain.model.Tensor;

/**
 * The model's state in backend memory: parameters, their gradients and both AdamW moments, four buffers in
 * the one flat {@link ParameterTensor} layout, with a view of every tensor (and layer) built once.
 */
public final class Parameters {

    private final long parameterCount;
    private final long decayedSize;
    private final Tensor params;  // (parameterCount) the flat layout
    private final Tensor grads;   // (parameterCount)
    private final Tensor m;       // (parameterCount) AdamW first moments
    private final Tensor v;       // (parameterCount) AdamW second moments
    private final Tensor[][] paramViews; // [ParameterTensor][layer]
    private final Tensor[][] gradViews;

    public Parameters(GptConfig config, Kernels kernels) {
        this.parameterCount = config.parameterCount();
        if (parameterCount > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("a model of " + parameterCount
                    + " parameters does not fit one Java array of the host copies; the limit is 2^31 - 9");
        }
        this.decayedSize = ParameterTensor.decayedSize(config);
        this.params = kernels.allocate(parameterCount);
        this.grads = kernels.allocate(parameterCount);
        this.m = kernels.allocate(parameterCount);
        this.v = kernels.allocate(parameterCount);
        this.paramViews = views(config, params);
        this.gradViews = views(config, grads);
    }

    private static Tensor[][] views(GptConfig config, Tensor flat) {
        Tensor[][] views = new Tensor[ParameterTensor.values().length][];
        for (ParameterTensor t : ParameterTensor.values()) {
            int layers = t.perLayer() ? config.layers() : 1;
            long size = t.layerSize(config);
            views[t.ordinal()] = new Tensor[layers];
            for (int l = 0; l < layers; l++) {
                views[t.ordinal()][l] = flat.slice(t.offset(config) + l * size, size);
            }
        }
        return views;
    }

    /** Number of parameters (the size of each of the four buffers). */
    public long count() {
        return parameterCount;
    }

    /** Number of parameters that weight decay applies to: the leading part of the flat layout. */
    public long decayedSize() {
        return decayedSize;
    }

    /** All parameters, flat. */
    public Tensor all() {
        return params;
    }

    /** All gradients, flat. */
    public Tensor gradients() {
        return grads;
    }

    /** AdamW first moments, flat. */
    public Tensor m() {
        return m;
    }

    /** AdamW second moments, flat. */
    public Tensor v() {
        return v;
    }

    /** A tensor that is not per layer. */
    public Tensor param(ParameterTensor t) {
        return paramViews[t.ordinal()][0];
    }

    public Tensor param(ParameterTensor t, int layer) {
        return paramViews[t.ordinal()][layer];
    }

    /** The gradient of a tensor that is not per layer. */
    public Tensor grad(ParameterTensor t) {
        return gradViews[t.ordinal()][0];
    }

    public Tensor grad(ParameterTensor t, int layer) {
        return gradViews[t.ordinal()][layer];
    }
}
