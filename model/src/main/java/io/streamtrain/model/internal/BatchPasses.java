package io.streamtrain.model.internal;

import static io.streamtrain.model.ParameterTensor.ATTPROJB;
import static io.streamtrain.model.ParameterTensor.ATTPROJW;
import static io.streamtrain.model.ParameterTensor.FCB;
import static io.streamtrain.model.ParameterTensor.FCPROJB;
import static io.streamtrain.model.ParameterTensor.FCPROJW;
import static io.streamtrain.model.ParameterTensor.FCW;
import static io.streamtrain.model.ParameterTensor.LN1B;
import static io.streamtrain.model.ParameterTensor.LN1W;
import static io.streamtrain.model.ParameterTensor.LN2B;
import static io.streamtrain.model.ParameterTensor.LN2W;
import static io.streamtrain.model.ParameterTensor.LNFB;
import static io.streamtrain.model.ParameterTensor.LNFW;
import static io.streamtrain.model.ParameterTensor.QKVB;
import static io.streamtrain.model.ParameterTensor.QKVW;
import static io.streamtrain.model.ParameterTensor.WPE;
import static io.streamtrain.model.ParameterTensor.WTE;
import static io.streamtrain.model.internal.ActivationTensor.ATTPROJ;
import static io.streamtrain.model.internal.ActivationTensor.ATTY;
import static io.streamtrain.model.internal.ActivationTensor.ATT_STATS;
import static io.streamtrain.model.internal.ActivationTensor.CORRECT;
import static io.streamtrain.model.internal.ActivationTensor.ENCODED;
import static io.streamtrain.model.internal.ActivationTensor.FCH;
import static io.streamtrain.model.internal.ActivationTensor.FCH_GELU;
import static io.streamtrain.model.internal.ActivationTensor.FCPROJ;
import static io.streamtrain.model.internal.ActivationTensor.LN1;
import static io.streamtrain.model.internal.ActivationTensor.LN1_MEAN;
import static io.streamtrain.model.internal.ActivationTensor.LN1_RSTD;
import static io.streamtrain.model.internal.ActivationTensor.LN2;
import static io.streamtrain.model.internal.ActivationTensor.LN2_MEAN;
import static io.streamtrain.model.internal.ActivationTensor.LN2_RSTD;
import static io.streamtrain.model.internal.ActivationTensor.LNF;
import static io.streamtrain.model.internal.ActivationTensor.LNF_MEAN;
import static io.streamtrain.model.internal.ActivationTensor.LNF_RSTD;
import static io.streamtrain.model.internal.ActivationTensor.LOGITS;
import static io.streamtrain.model.internal.ActivationTensor.LOSSES;
import static io.streamtrain.model.internal.ActivationTensor.QKV;
import static io.streamtrain.model.internal.ActivationTensor.RESIDUAL2;
import static io.streamtrain.model.internal.ActivationTensor.RESIDUAL3;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.ParameterTensor;
import io.streamtrain.model.Tensor;

/**
 * The passes of the model over a (B, T) batch, in llm.c's order: upload, forward (loss and accuracy into the
 * figures), zero-grad and backward (forward's calls in reverse). Owns the batch's {@link Activations},
 * allocated on the first upload of a (B, T) and grown for a larger one.
 */
public final class BatchPasses {

    private final GptConfig config;
    private final Kernels kernels;
    private final Parameters parameters;
    private final Tensor loss;     // (1) the mean loss, written by forward
    private final Tensor accuracy; // (1) the mean accuracy, written by forward
    private Activations acts;
    private IntTensor forwardInputs;  // a resident evaluation batch during forwardResident, else null
    private IntTensor forwardTargets;
    private float dropout;            // drop probability of the training forwards, 0 = none
    private long dropoutKey;          // the step's key; each place's mask is keyed by it and the place
    private boolean droppedOut;       // whether the last forward applied dropout (its backward applies it too)

    /** Passes over {@code parameters} that write the batch's mean loss and accuracy to the given (1) tensors. */
    public BatchPasses(GptConfig config, Kernels kernels, Parameters parameters, Tensor loss, Tensor accuracy) {
        this.config = config;
        this.kernels = kernels;
        this.parameters = parameters;
        this.loss = loss;
        this.accuracy = accuracy;
    }

    /** Writes inputs [:, :T] and targets [:, 1:] of the checked ids (B, T+1), B > 0, to the device. */
    public void upload(CheckedTokens batch) {
        int B = batch.rows();
        int T = batch.sequenceLength();
        int[] tokens = batch.ids();
        if (B <= 0) {
            throw new IllegalArgumentException("batch (B=" + B + ", T=" + T + ") must have B > 0");
        }
        ensureActivations(B, T);
        acts.upload(kernels, tokens);
    }

    private void ensureActivations(int B, int T) {
        if (acts == null || !acts.fits(B, T)) {
            acts = Activations.of(kernels, config, B, T, acts);
        }
    }

    /**
     * Forward without training over ids already resident on the device, {@code inputs} and {@code targets} (B, T)
     * (an evaluation set's batch), instead of the uploaded batch; loss and accuracy into the figures.
     */
    public void forwardResident(int B, int T, IntTensor inputs, IntTensor targets) {
        ensureActivations(B, T);
        forwardInputs = inputs;
        forwardTargets = targets;
        try {
            forward(B, T, false);
        } finally {
            forwardInputs = null;
            forwardTargets = null;
        }
    }

    /**
     * Dropout p for the training forwards that follow and their backwards, where nanoGPT applies it: on the
     * embeddings, on each block's attention weights, and on the outputs of its attention and MLP projections before
     * their residual sums (fused into those sums); {@code key} names the step, each place's mask is keyed by it and
     * the place ({@link #placeKey}). Never at evaluation (forwards without training).
     */
    public void dropout(float p, long key) {
        this.dropout = p;
        this.dropoutKey = key;
    }

    /** The mask key of place 0 (the embeddings) or, for block l, 1 + 3l (attention weights), 2 + 3l (attention
     * projection), 3 + 3l (MLP projection). */
    private long placeKey(int place) {
        return SplitMix64.mix(dropoutKey + (place + 1) * SplitMix64.GOLDEN_GAMMA);
    }

    /** out = inp1 + inp2 with dropout on inp2 at {@code place} when the forward drops out. */
    private void residualForward(Tensor out, Tensor inp1, Tensor inp2, int place, int n) {
        if (droppedOut) {
            kernels.residualDropoutForward(out, inp1, inp2, dropout, placeKey(place), n);
        } else {
            kernels.residualForward(out, inp1, inp2, n);
        }
    }

    /**
     * The gradient of a dropped-out branch, {@code dout} times the mask of {@code place}, into {@code scratch} (a
     * buffer free at that point); {@code dout} itself without dropout.
     */
    private Tensor droppedGradient(Tensor dout, Tensor scratch, int place, int n) {
        if (!droppedOut) {
            return dout;
        }
        kernels.dropout(scratch, dout, dropout, placeKey(place), n);
        return scratch;
    }

    /** The logits (B, T, Vp) of the last forward without training (training overwrites them with dlogits). */
    public Tensor logits() {
        return acts.get(LOGITS);
    }

    /** Forward over the uploaded batch, then loss and accuracy into figures; with dlogits in place when training. */
    public void forward(int B, int T, boolean training) {
        forward(B, T, training, 1.0f / (B * T));
    }

    /** As {@link #forward(int, int, boolean)} with each position's loss scaled by {@code lossScale} in the dlogits. */
    public void forward(int B, int T, boolean training, float lossScale) {
        int C = config.channels();
        int NH = config.heads();
        int N = B * T;
        droppedOut = training && dropout > 0f;
        float attentionDropout = droppedOut ? dropout : 0f;
        kernels.encoderForward(acts.get(ENCODED), forwardInputs != null ? forwardInputs : acts.inputs(), param(WTE),
                param(WPE), B, T, C);
        if (droppedOut) {
            kernels.dropout(acts.get(ENCODED), acts.get(ENCODED), dropout, placeKey(0), N * C);
        }
        for (int l = 0; l < config.layers(); l++) {
            Tensor residual = l == 0 ? acts.get(ENCODED) : acts.get(RESIDUAL3, l - 1);
            kernels.layernormForward(acts.get(LN1, l), acts.get(LN1_MEAN, l), acts.get(LN1_RSTD, l),
                    residual, param(LN1W, l), param(LN1B, l), N, C);
            kernels.matmulForward(acts.get(QKV, l), acts.get(LN1, l), param(QKVW, l), param(QKVB, l), N, C, 3 * C);
            kernels.attentionForward(acts.get(ATTY, l), acts.get(ATT_STATS, l), acts.get(QKV, l), B, T, C, NH,
                    attentionDropout, droppedOut ? placeKey(1 + 3 * l) : 0L);
            kernels.matmulForward(acts.get(ATTPROJ, l), acts.get(ATTY, l), param(ATTPROJW, l), param(ATTPROJB, l),
                    N, C, C);
            residualForward(acts.get(RESIDUAL2, l), residual, acts.get(ATTPROJ, l), 2 + 3 * l, N * C);
            kernels.layernormForward(acts.get(LN2, l), acts.get(LN2_MEAN, l), acts.get(LN2_RSTD, l),
                    acts.get(RESIDUAL2, l), param(LN2W, l), param(LN2B, l), N, C);
            kernels.matmulForward(acts.get(FCH, l), acts.get(LN2, l), param(FCW, l), param(FCB, l), N, C, 4 * C);
            kernels.geluForward(acts.get(FCH_GELU, l), acts.get(FCH, l), N * 4 * C);
            kernels.matmulForward(acts.get(FCPROJ, l), acts.get(FCH_GELU, l), param(FCPROJW, l), param(FCPROJB, l),
                    N, 4 * C, C);
            residualForward(acts.get(RESIDUAL3, l), acts.get(RESIDUAL2, l), acts.get(FCPROJ, l), 3 + 3 * l, N * C);
        }
        kernels.layernormForward(acts.get(LNF), acts.get(LNF_MEAN), acts.get(LNF_RSTD),
                acts.get(RESIDUAL3, config.layers() - 1), param(LNFW), param(LNFB), N, C);
        kernels.matmulForward(acts.get(LOGITS), acts.get(LNF), param(WTE), null, N, C, config.paddedVocabularySize());
        // dlogits overwrite the logits in place: the mean loss over N positions gives each a scale of 1/N
        kernels.softmaxCrossEntropy(acts.get(LOSSES), acts.get(CORRECT), acts.get(LOGITS), acts.get(LOGITS),
                forwardTargets != null ? forwardTargets : acts.targets(), lossScale, training, N, config.vocabularySize(), config.paddedVocabularySize());
        kernels.mean(loss, acts.get(LOSSES), N);
        kernels.mean(accuracy, acts.get(CORRECT), N);
    }

    /**
     * Zero-grad: one fill of the parameter gradients and one of the residual stream's gradient (B, T, C); the other
     * activation gradients are written by their one producer in backward, so they need none.
     */
    public void zeroGradients() {
        kernels.fill(parameters.gradients(), 0f);
        kernels.fill(acts.gradient(ENCODED), 0f);
    }

    /**
     * Backward: forward's calls in reverse order, from the dlogits that forward left in the logits (llm.c's CUDA
     * order). The residual stream's gradient lives in one (B, T, C) buffer, {@code dresidual} (ENCODED's gradient
     * view, zero-filled by {@link #zeroGradients}): a residual add passes its gradient through unchanged, so each
     * block's products read it as their dout and each layernorm backward adds its part to it; every other activation
     * gradient is written by its one producer. After a forward with dropout, a dropped-out projection's gradient is
     * dresidual times its mask, written to the free gradient buffer of the next layernorm down (LN2's, LN1's), and
     * the embeddings' gradient is dresidual times theirs, in place.
     */
    public void backward(int B, int T) {
        int C = config.channels();
        int NH = config.heads();
        int N = B * T;
        int L = config.layers();
        Tensor dresidual = acts.gradient(ENCODED);
        kernels.matmulBackward(acts.gradient(LNF), grad(WTE), null, acts.get(LOGITS), acts.get(LNF), param(WTE),
                N, C, config.paddedVocabularySize());
        kernels.layernormBackward(dresidual, grad(LNFW), grad(LNFB), acts.gradient(LNF),
                acts.get(RESIDUAL3, L - 1), param(LNFW), acts.get(LNF_MEAN), acts.get(LNF_RSTD), N, C);
        for (int l = L - 1; l >= 0; l--) {
            Tensor residual = l == 0 ? acts.get(ENCODED) : acts.get(RESIDUAL3, l - 1);
            // residual3 = residual2 + fcproj: dfcproj is dresidual itself (times the mask with dropout)
            kernels.matmulBackward(acts.gradient(FCH_GELU, l), grad(FCPROJW, l), grad(FCPROJB, l),
                    droppedGradient(dresidual, acts.gradient(LN2, l), 3 + 3 * l, N * C), acts.get(FCH_GELU, l),
                    param(FCPROJW, l), N, 4 * C, C);
            kernels.geluBackward(acts.gradient(FCH, l), acts.gradient(FCH_GELU, l), acts.get(FCH, l), N * 4 * C);
            kernels.matmulBackward(acts.gradient(LN2, l), grad(FCW, l), grad(FCB, l),
                    acts.gradient(FCH, l), acts.get(LN2, l), param(FCW, l), N, C, 4 * C);
            kernels.layernormBackward(dresidual, grad(LN2W, l), grad(LN2B, l),
                    acts.gradient(LN2, l), acts.get(RESIDUAL2, l), param(LN2W, l), acts.get(LN2_MEAN, l),
                    acts.get(LN2_RSTD, l), N, C);
            // residual2 = residual + attproj: dattproj is dresidual too
            kernels.matmulBackward(acts.gradient(ATTY, l), grad(ATTPROJW, l), grad(ATTPROJB, l),
                    droppedGradient(dresidual, acts.gradient(LN1, l), 2 + 3 * l, N * C), acts.get(ATTY, l),
                    param(ATTPROJW, l), N, C, C);
            kernels.attentionBackward(acts.gradient(QKV, l), acts.gradient(ATTY, l), acts.get(QKV, l),
                    acts.get(ATTY, l), acts.get(ATT_STATS, l), B, T, C, NH, droppedOut ? dropout : 0f,
                    droppedOut ? placeKey(1 + 3 * l) : 0L);
            kernels.matmulBackward(acts.gradient(LN1, l), grad(QKVW, l), grad(QKVB, l),
                    acts.gradient(QKV, l), acts.get(LN1, l), param(QKVW, l), N, C, 3 * C);
            kernels.layernormBackward(dresidual, grad(LN1W, l), grad(LN1B, l), acts.gradient(LN1, l),
                    residual, param(LN1W, l), acts.get(LN1_MEAN, l), acts.get(LN1_RSTD, l), N, C);
        }
        if (droppedOut) {
            kernels.dropout(dresidual, dresidual, dropout, placeKey(0), N * C);
        }
        kernels.encoderBackward(grad(WTE), grad(WPE), acts.gradient(ENCODED), acts.inputs(), B, T, C);
    }

    private Tensor param(ParameterTensor t) {
        return parameters.param(t);
    }

    private Tensor param(ParameterTensor t, int layer) {
        return parameters.param(t, layer);
    }

    private Tensor grad(ParameterTensor t) {
        return parameters.grad(t);
    }

    private Tensor grad(ParameterTensor t, int layer) {
        return parameters.grad(t, layer);
    }
}
