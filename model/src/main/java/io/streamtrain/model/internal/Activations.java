package io.streamtrain.model.internal;

import io.streamtrain.model.GptConfig;
import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import java.util.Arrays;

/**
 * The activations of a (B, T) batch, their gradients and the batch's token ids, in backend memory,
 * with every named view built once so that a training step creates no objects.
 *
 * <p>The gradients of the per-layer activations share one layer's buffers, as llm.c's do: each is written and read
 * within one layer's backward (the residual stream's gradient, which crosses layers, is ENCODED's view), so layer l - 1
 * may overwrite what layer l is done with; on gpt2 that is 3.9 GB of device memory less.
 *
 * <p>Backends cannot free memory, so the buffers only grow: a batch shape that fits the buffers of the
 * previous one reuses them with new views.
 */
public final class Activations {

    private final int batch;
    private final int sequenceLength;
    private final Tensor valueBuffer;     // capacity >= values.size()
    private final Tensor gradientBuffer;  // capacity >= gradients.size()
    private final IntTensor tokenBuffer;  // capacity >= 2 B T
    private final IntTensor tokens;       // (2, B, T): inputs, then targets
    private final IntTensor inputs;       // (B, T)
    private final IntTensor targets;      // (B, T)
    private final int[] hostTokens;       // (2, B, T): the batch packed as tokens is, uploaded in one copy
    private final Tensor[][] views;       // [ActivationTensor][layer]
    private final Tensor[][] gradientViews;

    private Activations(GptConfig config, long statisticsSize, int B, int T,
                        Tensor valueBuffer, Tensor gradientBuffer, IntTensor tokenBuffer) {
        this.batch = B;
        this.sequenceLength = T;
        this.valueBuffer = valueBuffer;
        this.gradientBuffer = gradientBuffer;
        this.tokenBuffer = tokenBuffer;
        int layers = config.layers();
        ActivationTensor[] all = ActivationTensor.values();
        views = new Tensor[all.length][];
        gradientViews = new Tensor[all.length][];
        long valueOffset = 0;
        long gradientOffset = 0;
        for (ActivationTensor t : all) {
            long layerSize = t.layerSize(config, B, T, statisticsSize);
            int count = t.perLayer() ? layers : 1;
            views[t.ordinal()] = new Tensor[count];
            for (int l = 0; l < count; l++) {
                views[t.ordinal()][l] = valueBuffer.slice(valueOffset + l * layerSize, layerSize);
            }
            valueOffset += count * layerSize;
            if (t.hasGradient()) {
                Tensor shared = gradientBuffer.slice(gradientOffset, layerSize);  // every layer's
                gradientViews[t.ordinal()] = new Tensor[count];
                Arrays.fill(gradientViews[t.ordinal()], shared);
                gradientOffset += layerSize;
            }
        }
        long n = (long) B * T;
        tokens = tokenBuffer.slice(0, 2 * n);
        inputs = tokenBuffer.slice(0, n);
        targets = tokenBuffer.slice(n, n);
        hostTokens = new int[Math.toIntExact(2 * n)];
    }

    /** Activations for (B, T), reusing {@code previous}'s memory where it is large enough (previous may be null). */
    public static Activations of(Kernels kernels, GptConfig config, int B, int T, Activations previous) {
        long statisticsSize = kernels.attentionStatisticsSize(B, T, config.heads());
        long valueSize = 0;
        long gradientSize = 0;
        for (ActivationTensor t : ActivationTensor.values()) {
            long size = t.size(config, B, T, statisticsSize);
            valueSize += size;
            gradientSize += t.hasGradient() ? t.layerSize(config, B, T, statisticsSize) : 0;
        }
        long tokenSize = 2L * B * T;
        Tensor values = previous != null && previous.valueBuffer.size() >= valueSize
                ? previous.valueBuffer : kernels.allocate(valueSize);
        Tensor grads = previous != null && previous.gradientBuffer.size() >= gradientSize
                ? previous.gradientBuffer : kernels.allocate(gradientSize);
        IntTensor tokens = previous != null && previous.tokenBuffer.size() >= tokenSize
                ? previous.tokenBuffer : kernels.allocateInts(tokenSize);
        return new Activations(config, statisticsSize, B, T, values, grads, tokens);
    }

    public boolean fits(int B, int T) {
        return batch == B && sequenceLength == T;
    }

    public int batch() {
        return batch;
    }

    public int sequenceLength() {
        return sequenceLength;
    }

    /** The tensor, or its layer-0 slice where it is per layer. */
    public Tensor get(ActivationTensor t) {
        return views[t.ordinal()][0];
    }

    public Tensor get(ActivationTensor t, int layer) {
        return views[t.ordinal()][layer];
    }

    public Tensor gradient(ActivationTensor t) {
        return gradient(t, 0);
    }

    public Tensor gradient(ActivationTensor t, int layer) {
        Tensor[] layers = gradientViews[t.ordinal()];
        if (layers == null) {
            throw new IllegalArgumentException("activation " + t + " has no gradient view");
        }
        return layers[layer];
    }

    /** Input ids (B, T). */
    public IntTensor inputs() {
        return inputs;
    }

    /** Target ids (B, T). */
    public IntTensor targets() {
        return targets;
    }

    /**
     * Uploads a batch, {@code batch} (B, T+1) row-major, as inputs [:, :T] and targets [:, 1:] in one host-to-device
     * copy: packed into a host array made with these activations first.
     */
    public void upload(Kernels kernels, int[] batch) {
        int B = this.batch;
        int T = sequenceLength;
        int n = B * T;
        for (int b = 0; b < B; b++) {
            System.arraycopy(batch, b * (T + 1), hostTokens, b * T, T);
            System.arraycopy(batch, b * (T + 1) + 1, hostTokens, n + b * T, T);
        }
        kernels.writeInts(tokens, hostTokens, 0, hostTokens.length);
    }
}
