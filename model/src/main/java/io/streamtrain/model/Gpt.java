package io.streamtrain.model;

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

import io.streamtrain.model.internal.Activations;
import io.streamtrain.model.internal.SplitMix64;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * The GPT of the reference trainer {@code torch_gpt_bench.py}, resident in a {@link Kernels} backend:
 * token + position embedding, L pre-LayerNorm blocks (causal multi-head attention, 4C tanh-GELU MLP),
 * final LayerNorm, output head tied to the token embedding.
 *
 * <p>Memory. Parameters, gradients and both AdamW moments are four backend buffers in the one flat
 * {@link ParameterTensor} layout; activations and their gradients are two buffers in the
 * {@code ActivationTensor} layout, allocated on the first step of a (B, T) and reused (a later, larger
 * shape allocates larger buffers; backends cannot free, so keep the shapes few). Every view is built once,
 * so a training step allocates nothing on the JVM heap except its {@link StepResult}, writes the batch with
 * 2B {@link Kernels#writeInts} calls (inputs and targets of each row) and reads the device once: a small
 * "figures" tensor (loss, accuracy, gradient norm) that the mean and norm kernels write.
 *
 * <p>Random numbers. One seeded generator with a one-long state draws the initial weights; its state
 * after that is saved in checkpoints and restored with them. Generation draws its coins from its own
 * generator seeded by the {@code seed} argument, so the same seed, prompt and weights give the same
 * tokens on every backend.
 *
 * <p>Not thread-safe: one caller at a time.
 */
public final class Gpt implements AutoCloseable {

    /** Standard deviation of the initial Linear and Embedding weights, as in the reference. */
    private static final double INIT_STD = 0.02;
    // slots of the figures tensor
    private static final int LOSS = 0;
    private static final int ACCURACY = 1;
    private static final int GRADIENT_NORM = 2;

    private final GptConfig config;
    private final Kernels kernels;
    private final TrainingOptions options;
    private final SplitMix64 rng;
    private final long parameterCount;
    private final long decayedSize;
    private final Tensor params;  // (parameterCount) the flat layout
    private final Tensor grads;   // (parameterCount)
    private final Tensor m;       // (parameterCount) AdamW first moments
    private final Tensor v;       // (parameterCount) AdamW second moments
    private final Tensor[][] paramViews; // [ParameterTensor][layer]
    private final Tensor[][] gradViews;
    private final Tensor figures;          // (3) loss, accuracy, gradient norm
    private final Tensor lossAndAccuracy;  // figures[0, 2)
    private final Tensor loss;             // figures[0]
    private final Tensor accuracy;         // figures[1]
    private final Tensor gradientNorm;     // figures[2]
    private final float[] figuresHost = new float[3];
    private Activations acts;
    private Decoder decoder;
    private long step;
    /** The step body for {@link Kernels#captureStep}, made once (a lambda per step would allocate). */
    private final Runnable stepWork = this::enqueueStep;
    /** The halves of a data-parallel step, around the all-reduce (see {@link #trainStep(int[], int, int, int, GradientReducer)}). */
    private final Runnable gradientWork = this::enqueueGradients;
    private final Runnable updateWork = this::enqueueUpdate;
    /** The captureStep key of the update half: negative, so never a packed (B, T). */
    private static final long UPDATE_KEY = -1L;
    // the arguments of enqueueStep, set by trainStep
    private int stepB;
    private int stepT;
    private float stepLossScale;
    private double stepLearningRate;
    /** (3) loss x rows, accuracy x rows, rows: what replicas sum to report the global figures; made on first use. */
    private Tensor exchange;
    private final float[] exchangeHost = new float[3];

    private Gpt(GptConfig config, Kernels kernels, TrainingOptions options, long rngState, long step) {
        this.config = Objects.requireNonNull(config, "config");
        this.kernels = Objects.requireNonNull(kernels, "kernels");
        this.options = Objects.requireNonNull(options, "options");
        this.rng = new SplitMix64(rngState);
        this.step = step;
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
        this.paramViews = views(params);
        this.gradViews = views(grads);
        this.figures = kernels.allocate(figuresHost.length);
        this.lossAndAccuracy = figures.slice(LOSS, 2);
        this.loss = figures.slice(LOSS, 1);
        this.accuracy = figures.slice(ACCURACY, 1);
        this.gradientNorm = figures.slice(GRADIENT_NORM, 1);
    }

    private Tensor[][] views(Tensor flat) {
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

    /**
     * Fresh weights: N(0, 0.02) for every Linear and Embedding weight (the real V rows of wte; its
     * padding rows are 0), biases 0, LayerNorm weight 1 and bias 0, from a generator seeded with {@code seed}.
     */
    public static Gpt initialize(GptConfig config, Kernels kernels, TrainingOptions options, long seed) {
        Gpt gpt = new Gpt(config, kernels, options, seed, 0);
        float[] host = new float[(int) gpt.parameterCount];
        for (ParameterTensor t : ParameterTensor.values()) {
            int offset = (int) t.offset(config);
            int size = (int) t.size(config);
            if (t.decayed()) {
                int real = t == WTE ? config.vocabularySize() * config.channels() : size;
                for (int i = 0; i < real; i++) {
                    host[offset + i] = (float) (INIT_STD * gpt.rng.nextGaussian());
                }
            } else if (t == LN1W || t == LN2W || t == LNFW) {
                Arrays.fill(host, offset, offset + size, 1.0f);
            }
        }
        kernels.write(gpt.params, host, 0);
        return gpt;
    }

    /** The model of a checkpoint: weights, AdamW moments, step and random state. */
    public static Gpt restore(Checkpoint checkpoint, Kernels kernels, TrainingOptions options) {
        Gpt gpt = new Gpt(checkpoint.config(), kernels, options, checkpoint.rngState(), checkpoint.step());
        kernels.write(gpt.params, checkpoint.parameters(), 0);
        kernels.write(gpt.m, checkpoint.m(), 0);
        kernels.write(gpt.v, checkpoint.v(), 0);
        return gpt;
    }

    // ---- training ------------------------------------------------------------------------------

    /**
     * One optimizer step on {@code tokens} (B, T+1) row-major: inputs are [:, :T], targets [:, 1:].
     * Forward, zero-grad, backward, global-norm clip at maxGradientNorm and AdamW with
     * lr = schedule.at(step + 1), all enqueued on the backend through {@link Kernels#captureStep} keyed by (B, T)
     * (the CUDA backend replays them as one graph); then one read of the figures.
     *
     * @throws IllegalArgumentException when the shape does not fit the model or an id is outside [0, V),
     *                                  naming its index
     */
    public StepResult trainStep(int[] tokens, int B, int T) {
        upload(tokens, B, T);
        double learningRate = prepareStep(B, T, B);
        // between the upload and the read: the same kernels every step of a (B, T), which a backend may replay
        kernels.captureStep((long) B << 32 | T, stepWork);
        kernels.read(figuresHost, 0, figures); // the step's one host synchronisation
        return finishStep(figuresHost[LOSS], figuresHost[ACCURACY], learningRate);
    }

    /**
     * One data-parallel optimizer step: this replica's {@code B} rows of {@code tokens} (B, T+1) are one share of a
     * global batch of {@code globalRows} rows spread over the replicas of {@code reducer}. Every replica calls this
     * once per global step, with its own rows (0 when it has nothing to give: it then computes no gradients and
     * contributes zeros). The loss of each position is scaled by 1 / (globalRows T), so the gradients that
     * {@link GradientReducer#allReduceSum} sums over the replicas are those of the mean loss over the global batch;
     * the global norm, clipping and AdamW then run identically on every replica, which stay equal.
     *
     * <p>Kernels: forward and backward ({@link Kernels#captureStep} keyed by (B, T)), the all-reduce, then the norm
     * and AdamW (a second captured step); with more than one replica, the loss and accuracy are summed too (a second
     * small all-reduce and host read), so the result is the global batch's on every replica. With one replica and
     * {@code globalRows == B} the weights are those of {@link #trainStep(int[], int, int)}, bit for bit.
     *
     * @throws IllegalArgumentException when B is not in [0, globalRows], or as {@link #trainStep(int[], int, int)}
     * @throws IllegalStateException    when the replicas' rows do not add up to {@code globalRows} (found after
     *                                  the update: the callers disagree about the global batch)
     */
    public StepResult trainStep(int[] tokens, int B, int T, int globalRows, GradientReducer reducer) {
        Objects.requireNonNull(reducer, "reducer");
        if (globalRows <= 0 || B < 0 || B > globalRows) {
            throw new IllegalArgumentException("this replica's rows B=" + B + " must be in [0, globalRows="
                    + globalRows + "] and the global batch must have rows");
        }
        if (reducer.worldSize() == 1 && B != globalRows) {
            throw new IllegalArgumentException("a world of one replica trains all " + globalRows
                    + " rows of the global batch, got B=" + B);
        }
        double learningRate = prepareStep(B, T, globalRows);
        if (B > 0) {
            upload(tokens, B, T);
            kernels.captureStep((long) B << 32 | T, gradientWork);
        } else {
            checkShape(tokens, 0, T);
            kernels.fill(grads, 0f); // nothing to give: a zero contribution
        }
        reducer.allReduceSum(kernels, grads);
        kernels.captureStep(UPDATE_KEY, updateWork);
        kernels.read(figuresHost, 0, figures); // the host synchronisation of a world of one
        if (reducer.worldSize() == 1) {
            return finishStep(figuresHost[LOSS], figuresHost[ACCURACY], learningRate);
        }
        if (exchange == null) {
            exchange = kernels.allocate(exchangeHost.length);
        }
        exchangeHost[0] = B == 0 ? 0f : figuresHost[LOSS] * B;
        exchangeHost[1] = B == 0 ? 0f : figuresHost[ACCURACY] * B;
        exchangeHost[2] = B;
        kernels.write(exchange, exchangeHost, 0);
        reducer.allReduceSum(kernels, exchange);
        kernels.read(exchangeHost, 0, exchange);
        if (exchangeHost[2] != globalRows) {
            throw new IllegalStateException("the replicas trained " + (long) exchangeHost[2] + " rows in all but were "
                    + "told the global batch has " + globalRows + ": every replica must be given the same globalRows");
        }
        return finishStep(exchangeHost[0] / globalRows, exchangeHost[1] / globalRows, learningRate);
    }

    /** Sets the step fields; returns the learning rate of the step. */
    private double prepareStep(int B, int T, int globalRows) {
        double learningRate = options.schedule().at(step + 1);
        stepB = B;
        stepT = T;
        stepLossScale = 1.0f / (globalRows * T);
        stepLearningRate = learningRate;
        return learningRate;
    }

    /** Counts the step when it was applied (a finite norm in the figures read last). */
    private StepResult finishStep(double loss, double accuracy, double learningRate) {
        float norm = figuresHost[GRADIENT_NORM];
        boolean applied = Float.isFinite(norm);
        if (applied) {
            step++;
        }
        return new StepResult(loss, accuracy, norm, learningRate, applied);
    }

    /**
     * The kernels of a training step after the upload: forward, zero-grad, backward, global norm and AdamW with
     * the (B, T) and learning rate that {@link #trainStep} left in the step fields, at optimizer step step + 1.
     */
    private void enqueueStep() {
        enqueueGradients();
        enqueueUpdate();
    }

    /** Forward, zero-grad and backward of the uploaded batch: this replica's gradients. */
    private void enqueueGradients() {
        int B = stepB;
        int T = stepT;
        forward(B, T, true, stepLossScale);
        zeroGradients();
        backward(B, T);
    }

    /** Global norm, clipping and AdamW over the gradients. */
    private void enqueueUpdate() {
        kernels.globalNorm(gradientNorm, grads, parameterCount);
        kernels.adamw(params, m, v, grads, gradientNorm, parameterCount, decayedSize, (float) stepLearningRate,
                (float) options.beta1(), (float) options.beta2(), (float) options.eps(),
                (float) options.weightDecay(), (float) options.maxGradientNorm(), (int) (step + 1));
    }

    /** Loss and accuracy of {@code tokens} (B, T+1) without an update; one host synchronisation. */
    public EvalResult evaluate(int[] tokens, int B, int T) {
        upload(tokens, B, T);
        forward(B, T, false);
        kernels.read(figuresHost, 0, lossAndAccuracy);
        return new EvalResult(figuresHost[LOSS], figuresHost[ACCURACY]);
    }

    /** Validates the (B, T+1) ids and writes inputs [:, :T] and targets [:, 1:] to the device. */
    private void upload(int[] tokens, int B, int T) {
        if (B <= 0) {
            throw new IllegalArgumentException("batch (B=" + B + ", T=" + T + ") must have B > 0");
        }
        checkShape(tokens, B, T);
        checkIds(tokens, 0, tokens.length, "tokens");
        ensureActivations(B, T);
        for (int b = 0; b < B; b++) {
            kernels.writeInts(acts.inputRow(b), tokens, b * (T + 1), T);
            kernels.writeInts(acts.targetRow(b), tokens, b * (T + 1) + 1, T);
        }
    }

    private void checkShape(int[] tokens, int B, int T) {
        Objects.requireNonNull(tokens, "tokens");
        if (T <= 0 || T > config.contextLength()) {
            throw new IllegalArgumentException("batch (B=" + B + ", T=" + T + ") must have 0 < T <= "
                    + config.contextLength() + " (the context length)");
        }
        if (tokens.length != B * (T + 1)) {
            throw new IllegalArgumentException("tokens must be (B, T+1) = (" + B + ", " + (T + 1) + ") = "
                    + B * (T + 1) + " ids, got " + tokens.length);
        }
    }

    private void checkIds(int[] ids, int from, int to, String what) {
        int vocabulary = config.vocabularySize();
        for (int i = from; i < to; i++) {
            if (ids[i] < 0 || ids[i] >= vocabulary) {
                throw new IllegalArgumentException(what + "[" + i + "] = " + ids[i]
                        + " is not an id of the vocabulary [0, " + vocabulary + ")");
            }
        }
    }

    private void ensureActivations(int B, int T) {
        if (acts == null || !acts.fits(B, T)) {
            acts = Activations.of(kernels, config, B, T, acts);
        }
    }

    /** Forward over the uploaded batch, then loss and accuracy into figures; with dlogits in place when training. */
    private void forward(int B, int T, boolean training) {
        forward(B, T, training, 1.0f / (B * T));
    }

    /** As {@link #forward(int, int, boolean)} with each position's loss scaled by {@code lossScale} in the dlogits. */
    private void forward(int B, int T, boolean training, float lossScale) {
        int C = config.channels();
        int NH = config.heads();
        int N = B * T;
        kernels.encoderForward(acts.get(ENCODED), acts.inputs(), param(WTE), param(WPE), B, T, C);
        for (int l = 0; l < config.layers(); l++) {
            Tensor residual = l == 0 ? acts.get(ENCODED) : acts.get(RESIDUAL3, l - 1);
            kernels.layernormForward(acts.get(LN1, l), acts.get(LN1_MEAN, l), acts.get(LN1_RSTD, l),
                    residual, param(LN1W, l), param(LN1B, l), N, C);
            kernels.matmulForward(acts.get(QKV, l), acts.get(LN1, l), param(QKVW, l), param(QKVB, l), N, C, 3 * C);
            kernels.attentionForward(acts.get(ATTY, l), acts.get(ATT_STATS, l), acts.get(QKV, l), B, T, C, NH);
            kernels.matmulForward(acts.get(ATTPROJ, l), acts.get(ATTY, l), param(ATTPROJW, l), param(ATTPROJB, l),
                    N, C, C);
            kernels.residualForward(acts.get(RESIDUAL2, l), residual, acts.get(ATTPROJ, l), N * C);
            kernels.layernormForward(acts.get(LN2, l), acts.get(LN2_MEAN, l), acts.get(LN2_RSTD, l),
                    acts.get(RESIDUAL2, l), param(LN2W, l), param(LN2B, l), N, C);
            kernels.matmulForward(acts.get(FCH, l), acts.get(LN2, l), param(FCW, l), param(FCB, l), N, C, 4 * C);
            kernels.geluForward(acts.get(FCH_GELU, l), acts.get(FCH, l), N * 4 * C);
            kernels.matmulForward(acts.get(FCPROJ, l), acts.get(FCH_GELU, l), param(FCPROJW, l), param(FCPROJB, l),
                    N, 4 * C, C);
            kernels.residualForward(acts.get(RESIDUAL3, l), acts.get(RESIDUAL2, l), acts.get(FCPROJ, l), N * C);
        }
        kernels.layernormForward(acts.get(LNF), acts.get(LNF_MEAN), acts.get(LNF_RSTD),
                acts.get(RESIDUAL3, config.layers() - 1), param(LNFW), param(LNFB), N, C);
        kernels.matmulForward(acts.get(LOGITS), acts.get(LNF), param(WTE), null, N, C, config.paddedVocabularySize());
        // dlogits overwrite the logits in place: the mean loss over N positions gives each a scale of 1/N
        kernels.softmaxCrossEntropy(acts.get(LOSSES), acts.get(CORRECT), acts.get(LOGITS), acts.get(LOGITS),
                acts.targets(), lossScale, training, N, config.vocabularySize(), config.paddedVocabularySize());
        kernels.mean(loss, acts.get(LOSSES), N);
        kernels.mean(accuracy, acts.get(CORRECT), N);
    }

    /** Zero-grad: one fill of the parameter gradients and one of the activation gradients. */
    private void zeroGradients() {
        kernels.fill(grads, 0f);
        kernels.fill(acts.gradients(), 0f);
    }

    /** Backward: forward's calls in reverse order, from the dlogits that forward left in the logits. */
    private void backward(int B, int T) {
        int C = config.channels();
        int NH = config.heads();
        int N = B * T;
        int L = config.layers();
        kernels.matmulBackward(acts.gradient(LNF), grad(WTE), null, acts.get(LOGITS), acts.get(LNF), param(WTE),
                N, C, config.paddedVocabularySize());
        kernels.layernormBackward(acts.gradient(RESIDUAL3, L - 1), grad(LNFW), grad(LNFB), acts.gradient(LNF),
                acts.get(RESIDUAL3, L - 1), param(LNFW), acts.get(LNF_MEAN), acts.get(LNF_RSTD), N, C);
        for (int l = L - 1; l >= 0; l--) {
            Tensor residual = l == 0 ? acts.get(ENCODED) : acts.get(RESIDUAL3, l - 1);
            Tensor dresidual = l == 0 ? acts.gradient(ENCODED) : acts.gradient(RESIDUAL3, l - 1);
            kernels.residualBackward(acts.gradient(RESIDUAL2, l), acts.gradient(FCPROJ, l),
                    acts.gradient(RESIDUAL3, l), N * C);
            kernels.matmulBackward(acts.gradient(FCH_GELU, l), grad(FCPROJW, l), grad(FCPROJB, l),
                    acts.gradient(FCPROJ, l), acts.get(FCH_GELU, l), param(FCPROJW, l), N, 4 * C, C);
            kernels.geluBackward(acts.gradient(FCH, l), acts.gradient(FCH_GELU, l), acts.get(FCH, l), N * 4 * C);
            kernels.matmulBackward(acts.gradient(LN2, l), grad(FCW, l), grad(FCB, l),
                    acts.gradient(FCH, l), acts.get(LN2, l), param(FCW, l), N, C, 4 * C);
            kernels.layernormBackward(acts.gradient(RESIDUAL2, l), grad(LN2W, l), grad(LN2B, l),
                    acts.gradient(LN2, l), acts.get(RESIDUAL2, l), param(LN2W, l), acts.get(LN2_MEAN, l),
                    acts.get(LN2_RSTD, l), N, C);
            kernels.residualBackward(dresidual, acts.gradient(ATTPROJ, l), acts.gradient(RESIDUAL2, l), N * C);
            kernels.matmulBackward(acts.gradient(ATTY, l), grad(ATTPROJW, l), grad(ATTPROJB, l),
                    acts.gradient(ATTPROJ, l), acts.get(ATTY, l), param(ATTPROJW, l), N, C, C);
            kernels.attentionBackward(acts.gradient(QKV, l), acts.gradient(ATTY, l), acts.get(QKV, l),
                    acts.get(ATTY, l), acts.get(ATT_STATS, l), B, T, C, NH);
            kernels.matmulBackward(acts.gradient(LN1, l), grad(QKVW, l), grad(QKVB, l),
                    acts.gradient(QKV, l), acts.get(LN1, l), param(QKVW, l), N, C, 3 * C);
            kernels.layernormBackward(dresidual, grad(LN1W, l), grad(LN1B, l), acts.gradient(LN1, l),
                    residual, param(LN1W, l), acts.get(LN1_MEAN, l), acts.get(LN1_RSTD, l), N, C);
        }
        kernels.encoderBackward(grad(WTE), grad(WPE), acts.gradient(ENCODED), acts.inputs(), B, T, C);
    }

    private Tensor param(ParameterTensor t) {
        return paramViews[t.ordinal()][0];
    }

    private Tensor param(ParameterTensor t, int layer) {
        return paramViews[t.ordinal()][layer];
    }

    private Tensor grad(ParameterTensor t) {
        return gradViews[t.ordinal()][0];
    }

    private Tensor grad(ParameterTensor t, int layer) {
        return gradViews[t.ordinal()][layer];
    }

    // ---- generation ----------------------------------------------------------------------------

    /**
     * {@code maxNewTokens} new ids after {@code prompt}, one position at a time through a KV cache (cost
     * linear in maxNewTokens), sampled with coins from a generator seeded with {@code seed}. The prompt is
     * cut from the left so that prompt and new ids fit the context length; at least one prompt id is needed,
     * so maxNewTokens must be below the context length. One host synchronisation, at the end.
     *
     * @return the new ids only, maxNewTokens of them
     */
    public int[] generate(int[] prompt, int maxNewTokens, SamplingOptions sampling, long seed) {
        return generate(prompt, maxNewTokens, sampling, seed, null);
    }

    /**
     * {@link #generate(int[], int, SamplingOptions, long)} that also hands each new id to {@code newIds} as soon as
     * it is sampled, for streaming output: the same ids (the same kernels and coins), at the cost of one host
     * synchronisation per id.
     *
     * @param newIds told every new id in order; null = no streaming (one synchronisation at the end)
     */
    public int[] generate(int[] prompt, int maxNewTokens, SamplingOptions sampling, long seed, IntConsumer newIds) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampling, "sampling");
        int contextLength = config.contextLength();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: give at least one id (e.g. the end-of-text id)");
        }
        if (maxNewTokens < 0 || maxNewTokens >= contextLength) {
            throw new IllegalArgumentException("maxNewTokens must be in [0, " + (contextLength - 1)
                    + "] (the context length " + contextLength + " minus one prompt id), got " + maxNewTokens);
        }
        checkIds(prompt, 0, prompt.length, "prompt");
        if (maxNewTokens == 0) {
            return new int[0];
        }
        int kept = Math.min(prompt.length, contextLength - maxNewTokens);
        if (decoder == null) {
            decoder = new Decoder();
        }
        return decoder.generate(prompt, prompt.length - kept, kept, maxNewTokens, sampling, seed, newIds);
    }

    /** Buffers and passes of single-position decoding, allocated on the first {@link #generate}. */
    private final class Decoder {
        private final int C = config.channels();
        private final Tensor kcache = kernels.allocate((long) config.layers() * config.contextLength() * C); // (L, T, C)
        private final Tensor vcache = kernels.allocate((long) config.layers() * config.contextLength() * C); // (L, T, C)
        private final IntTensor ids = kernels.allocateInts(config.contextLength()); // (T) prompt, then generated
        private final Tensor coins = kernels.allocate(config.contextLength());      // (T) uniforms in [0, 1)
        private final Tensor residual1 = kernels.allocate(C); // (C) embedding, then the stream between blocks
        private final Tensor residual2 = kernels.allocate(C); // (C)
        private final Tensor residual3 = kernels.allocate(C); // (C)
        private final Tensor ln = kernels.allocate(C);        // (C)
        private final Tensor mean = kernels.allocate(1);
        private final Tensor rstd = kernels.allocate(1);
        private final Tensor qkv = kernels.allocate(3L * C);  // (3C)
        private final Tensor q = qkv.slice(0, C);
        private final Tensor k = qkv.slice(C, C);
        private final Tensor vv = qkv.slice(2L * C, C);
        private final Tensor atty = kernels.allocate(C);      // (C)
        private final Tensor attproj = kernels.allocate(C);   // (C)
        private final Tensor fch = kernels.allocate(4L * C);  // (4C)
        private final Tensor fchGelu = kernels.allocate(4L * C); // (4C)
        private final Tensor fcproj = kernels.allocate(C);    // (C)
        private final Tensor logits = kernels.allocate(config.paddedVocabularySize()); // (Vp)
        private final int[] one = new int[1]; // a streamed id

        int[] generate(int[] prompt, int start, int kept, int maxNewTokens, SamplingOptions sampling, long seed,
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
    }

    // ---- state -----------------------------------------------------------------------------------

    /** Reads parameters, moments, step and random state to the host. */
    public Checkpoint checkpoint(TokenizerIdentity tokenizer, Map<String, String> metadata) {
        Objects.requireNonNull(tokenizer, "tokenizer");
        if (tokenizer.vocabularySize() != config.vocabularySize()) {
            throw new IllegalArgumentException("tokenizer '" + tokenizer.name() + "' has " + tokenizer.vocabularySize()
                    + " ids but the model's vocabulary is " + config.vocabularySize());
        }
        return new Checkpoint(config, tokenizer, step, rng.state(), readAll(params), readAll(m), readAll(v), metadata);
    }

    private float[] readAll(Tensor tensor) {
        float[] host = new float[(int) tensor.size()];
        kernels.read(host, 0, tensor);
        return host;
    }

    /** Optimizer steps applied so far. */
    public long step() {
        return step;
    }

    public GptConfig config() {
        return config;
    }

    public Kernels kernels() {
        return kernels;
    }

    public TrainingOptions options() {
        return options;
    }

    // ---- for verification ------------------------------------------------------------------------

    /**
     * For verification (golden and compatibility tests): the logits (B, T, Vp) of {@code inputs} (B, T),
     * read to the host. Not for training loops: it allocates the result.
     */
    public float[] logits(int[] inputs, int B, int T) {
        Objects.requireNonNull(inputs, "inputs");
        if (inputs.length != B * T) {
            throw new IllegalArgumentException("inputs must be (B, T) = " + B * T + " ids, got " + inputs.length);
        }
        int[] tokens = new int[B * (T + 1)]; // targets are ignored here; 0 is a valid id
        for (int b = 0; b < B; b++) {
            System.arraycopy(inputs, b * T, tokens, b * (T + 1), T);
        }
        upload(tokens, B, T);
        forward(B, T, false);
        return readAll(acts.get(LOGITS));
    }

    /**
     * For verification: forward, zero-grad and backward of {@code tokens} (B, T+1) without an update;
     * returns the loss. Read the gradients with {@link #gradients()}.
     */
    public double forwardBackward(int[] tokens, int B, int T) {
        upload(tokens, B, T);
        forward(B, T, true);
        zeroGradients();
        backward(B, T);
        kernels.read(figuresHost, 0, lossAndAccuracy);
        return figuresHost[LOSS];
    }

    /** For verification: the gradients of the last backward, in the flat {@link ParameterTensor} layout. */
    public float[] gradients() {
        return readAll(grads);
    }

    /** Closes the kernels and with them every buffer of this model. */
    @Override
    public void close() {
        kernels.close();
    }
}
