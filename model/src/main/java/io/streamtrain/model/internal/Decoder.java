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

import io.streamtrain.model.GptConfig;
import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.ParameterTensor;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.Tensor;
import java.util.function.IntConsumer;

/**
 * Buffers and passes of single-position decoding through a KV cache, allocated on a model's first
 * {@code generate}: the prompt's positions fill the cache, then each new id is sampled from the logits of the
 * last position and fed back.
 */
public final class Decoder {

    private final GptConfig config;
    private final Kernels kernels;
    private final Parameters parameters;
    private final int C;
    private final Tensor kcache; // (L, T, C)
    private final Tensor vcache; // (L, T, C)
    private final IntTensor ids; // (T) prompt, then generated
    private final Tensor coins;  // (T) uniforms in [0, 1)
    private final Tensor residual1; // (C) embedding, then the stream between blocks
    private final Tensor residual2; // (C)
    private final Tensor residual3; // (C)
    private final Tensor ln;        // (C)
    private final Tensor mean;
    private final Tensor rstd;
    private final Tensor qkv;       // (3C)
    private final Tensor q;
    private final Tensor k;
    private final Tensor vv;
    private final Tensor atty;      // (C)
    private final Tensor attproj;   // (C)
    private final Tensor fch;       // (4C)
    private final Tensor fchGelu;   // (4C)
    private final Tensor fcproj;    // (C)
    private final Tensor logits;    // (Vp)
    private final int[] one = new int[1]; // a streamed id

    public Decoder(GptConfig config, Kernels kernels, Parameters parameters) {
        this.config = config;
        this.kernels = kernels;
        this.parameters = parameters;
        this.C = config.channels();
        this.kcache = kernels.allocate((long) config.layers() * config.contextLength() * C);
        this.vcache = kernels.allocate((long) config.layers() * config.contextLength() * C);
        this.ids = kernels.allocateInts(config.contextLength());
        this.coins = kernels.allocate(config.contextLength());
        this.residual1 = kernels.allocate(C);
        this.residual2 = kernels.allocate(C);
        this.residual3 = kernels.allocate(C);
        this.ln = kernels.allocate(C);
        this.mean = kernels.allocate(1);
        this.rstd = kernels.allocate(1);
        this.qkv = kernels.allocate(3L * C);
        this.q = qkv.slice(0, C);
        this.k = qkv.slice(C, C);
        this.vv = qkv.slice(2L * C, C);
        this.atty = kernels.allocate(C);
        this.attproj = kernels.allocate(C);
        this.fch = kernels.allocate(4L * C);
        this.fchGelu = kernels.allocate(4L * C);
        this.fcproj = kernels.allocate(C);
        this.logits = kernels.allocate(config.paddedVocabularySize());
    }

    /**
     * {@code maxNewTokens} ids after {@code prompt[start, start + kept)} (checked by the caller: valid ids that fit
     * the context with the new ones), sampled with coins from a generator seeded with {@code seed}.
     *
     * @param newIds told every new id in order; null = no streaming (one host synchronisation at the end)
     */
    public int[] generate(int[] prompt, int start, int kept, int maxNewTokens, SamplingOptions sampling, long seed,
                          IntConsumer newIds) {
        SplitMix64 coinRng = new SplitMix64(seed);
        float[] coinsHost = new float[maxNewTokens];
        for (int i = 0; i < maxNewTokens; i++) {
            coinsHost[i] = coinRng.nextFloat();
        }
        kernels.write(coins.slice(0, maxNewTokens), coinsHost, 0);
        kernels.writeInts(ids.slice(0, kept), prompt, start, kept);
        int last = kept + maxNewTokens - 1; // the last position holds the last sample; it is never fed back
        for (int position = 0; position < last; position++) {
            boolean predicts = position >= kept - 1;
            forwardPosition(position, predicts);
            if (predicts) {
                kernels.sample(ids.slice(position + 1, 1), logits, coins.slice(position - (kept - 1), 1),
                        sampling.temperature(), sampling.topK(), config.vocabularySize());
                if (newIds != null) {
                    kernels.readInts(one, 0, ids.slice(position + 1, 1));
                    newIds.accept(one[0]);
                }
            }
        }
        int[] generated = new int[maxNewTokens];
        kernels.readInts(generated, 0, ids.slice(kept, maxNewTokens)); // the one host synchronisation
        return generated;
    }

    /** One position through every block, appending its keys and values to the cache; logits when asked. */
    private void forwardPosition(int position, boolean withLogits) {
        int T = config.contextLength();
        kernels.encoderForward(residual1, ids.slice(position, 1), param(WTE),
                param(WPE).slice((long) position * C, C), 1, 1, C);
        Tensor residual = residual1;
        for (int l = 0; l < config.layers(); l++) {
            Tensor layerK = kcache.slice((long) l * T * C, (long) T * C); // (T, C)
            Tensor layerV = vcache.slice((long) l * T * C, (long) T * C); // (T, C)
            kernels.layernormForward(ln, mean, rstd, residual, param(LN1W, l), param(LN1B, l), 1, C);
            kernels.matmulForward(qkv, ln, param(QKVW, l), param(QKVB, l), 1, C, 3 * C);
            kernels.copy(layerK.slice((long) position * C, C), k);
            kernels.copy(layerV.slice((long) position * C, C), vv);
            kernels.attentionDecode(atty, q, layerK, layerV, position, C, config.heads());
            kernels.matmulForward(attproj, atty, param(ATTPROJW, l), param(ATTPROJB, l), 1, C, C);
            kernels.residualForward(residual2, residual, attproj, C);
            kernels.layernormForward(ln, mean, rstd, residual2, param(LN2W, l), param(LN2B, l), 1, C);
            kernels.matmulForward(fch, ln, param(FCW, l), param(FCB, l), 1, C, 4 * C);
            kernels.geluForward(fchGelu, fch, 4 * C);
            kernels.matmulForward(fcproj, fchGelu, param(FCPROJW, l), param(FCPROJB, l), 1, 4 * C, C);
            kernels.residualForward(residual3, residual2, fcproj, C);
            residual = residual3;
        }
        if (withLogits) {
            kernels.layernormForward(ln, mean, rstd, residual, param(LNFW), param(LNFB), 1, C);
            kernels.matmulForward(logits, ln, param(WTE), null, 1, C, config.paddedVocabularySize());
        }
    }

    private Tensor param(ParameterTensor t) {
        return parameters.param(t);
    }

    private Tensor param(ParameterTensor t, int layer) {
        return parameters.param(t, layer);
    }
}
