package io.streamtrain.model.internal;

import io.streamtrain.model.GptConfig;

/**
 * The activations of one forward pass over a (B, T) batch, in the order of their flat layout
 * (llm.c's ActivationTensors). Tensors with a gradient also have a view in the activation-gradient
 * buffer, which holds only those, in the same order, one layer's worth of each (every layer's gradient is the same
 * view: {@link Activations}); the logits have none because the fused softmax-cross-entropy overwrites them with their
 * gradient in place.
 */
public enum ActivationTensor {
    // name        perLayer gradient   shape
    ENCODED(false, true),     // (B, T, C) token + position embedding; its gradient view is the one buffer of the
                              // residual stream's gradient in backward, which ends as dencoded
    LN1(true, true),          // (L, B, T, C)
    LN1_MEAN(true, false),    // (L, B, T)
    LN1_RSTD(true, false),    // (L, B, T)
    QKV(true, true),          // (L, B, T, 3C)
    ATTY(true, true),         // (L, B, T, C) attention output, heads side by side
    ATT_STATS(true, false),   // (L, S) S = kernels.attentionStatisticsSize(B, T, NH)
    ATTPROJ(true, false),     // (L, B, T, C) its gradient is the residual stream's (ENCODED's view)
    RESIDUAL2(true, false),   // (L, B, T, C) residual + attproj
    LN2(true, true),          // (L, B, T, C)
    LN2_MEAN(true, false),    // (L, B, T)
    LN2_RSTD(true, false),    // (L, B, T)
    FCH(true, true),          // (L, B, T, 4C)
    FCH_GELU(true, true),     // (L, B, T, 4C)
    FCPROJ(true, false),      // (L, B, T, C)
    RESIDUAL3(true, false),   // (L, B, T, C) residual2 + fcproj: the residual stream out of the block
    LNF(false, true),         // (B, T, C)
    LNF_MEAN(false, false),   // (B, T)
    LNF_RSTD(false, false),   // (B, T)
    LOGITS(false, false),     // (B, T, Vp); backward overwrites it with dlogits
    LOSSES(false, false),     // (B, T)
    CORRECT(false, false);    // (B, T) 1 where argmax equals the target

    private final boolean perLayer;
    private final boolean hasGradient;

    ActivationTensor(boolean perLayer, boolean hasGradient) {
        this.perLayer = perLayer;
        this.hasGradient = hasGradient;
    }

    public boolean perLayer() {
        return perLayer;
    }

    /** Whether backward needs a gradient of this tensor (a view in the activation-gradient buffer). */
    public boolean hasGradient() {
        return hasGradient;
    }

    /** Shape of one layer's slice; {@code statisticsSize} is the backend's attention statistics per layer. */
    public long[] layerShape(GptConfig config, int B, int T, long statisticsSize) {
        long c = config.channels();
        return switch (this) {
            case ENCODED, LN1, ATTY, ATTPROJ, RESIDUAL2, LN2, FCPROJ, RESIDUAL3, LNF -> new long[] {B, T, c};
            case QKV -> new long[] {B, T, 3 * c};
            case FCH, FCH_GELU -> new long[] {B, T, 4 * c};
            case LN1_MEAN, LN1_RSTD, LN2_MEAN, LN2_RSTD, LNF_MEAN, LNF_RSTD, LOSSES, CORRECT -> new long[] {B, T};
            case ATT_STATS -> new long[] {statisticsSize};
            case LOGITS -> new long[] {B, T, config.paddedVocabularySize()};
        };
    }

    public long layerSize(GptConfig config, int B, int T, long statisticsSize) {
        long n = 1;
        for (long d : layerShape(config, B, T, statisticsSize)) {
            n *= d;
        }
        return n;
    }

    /** Elements of the whole tensor, all layers. */
    public long size(GptConfig config, int B, int T, long statisticsSize) {
        return layerSize(config, B, T, statisticsSize) * (perLayer ? config.layers() : 1);
    }
}
