package io.streamtrain.model;

import static io.streamtrain.model.ParameterTensor.LN1W;
import static io.streamtrain.model.ParameterTensor.LN2W;
import static io.streamtrain.model.ParameterTensor.LNFW;
import static io.streamtrain.model.ParameterTensor.WTE;

import io.streamtrain.model.internal.BatchPasses;
import io.streamtrain.model.internal.Decoder;
import io.streamtrain.model.internal.Parameters;
import io.streamtrain.model.internal.SplitMix64;
import io.streamtrain.model.internal.TokenChecks;
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
 * one {@link Kernels#writeInts} call (inputs and targets, packed on the host) and reads the device once: a small
 * "figures" tensor (loss, accuracy, gradient norm) that the mean and norm kernels write.
 *
 * <p>Random numbers. One seeded generator with a one-long state draws the initial weights; its state
 * after that is saved in checkpoints and restored with them. Generation draws its coins from its own
 * generator seeded by the {@code seed} argument, so the same seed, prompt and weights give the same
 * tokens on every backend. Dropout ({@link #dropout(double)}) draws counter-based masks keyed by (the generator's
 * state after the initial weights, the optimizer step, the replica, the place, the element): no state of its own, so
 * a resumed or replayed run draws the same masks, bit for bit, and so do the CPU and CUDA backends.
 *
 * <p>Code. This class is the model's API and its training step (the order of passes, the data-parallel halves
 * around the all-reduce, the optimizer update); the parts live in {@code internal}: {@code Parameters} (the four
 * flat buffers and their views), {@code BatchPasses} (upload, forward, zero-grad and backward over a batch, llm.c
 * style), {@code Decoder} (generation through a KV cache) and {@code TokenChecks}.
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
    private final Parameters parameters;
    private final Tensor figures;          // (3) loss, accuracy, gradient norm
    private final Tensor lossAndAccuracy;  // figures[0, 2)
    private final Tensor loss;             // figures[0]
    private final Tensor accuracy;         // figures[1]
    private final Tensor gradientNorm;     // figures[2]
    private final float[] figuresHost = new float[3];
    private final BatchPasses passes;
    private Decoder decoder;
    private long step;
    private float dropout;
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
        this.parameters = new Parameters(config, kernels);
        this.figures = kernels.allocate(figuresHost.length);
        this.lossAndAccuracy = figures.slice(LOSS, 2);
        this.loss = figures.slice(LOSS, 1);
        this.accuracy = figures.slice(ACCURACY, 1);
        this.gradientNorm = figures.slice(GRADIENT_NORM, 1);
        this.passes = new BatchPasses(config, kernels, parameters, loss, accuracy);
    }

    /**
     * Fresh weights: N(0, 0.02) for every Linear and Embedding weight (the real V rows of wte; its
     * padding rows are 0), biases 0, LayerNorm weight 1 and bias 0, from a generator seeded with {@code seed}.
     */
    public static Gpt initialize(GptConfig config, Kernels kernels, TrainingOptions options, long seed) {
        Gpt gpt = new Gpt(config, kernels, options, seed, 0);
        float[] host = new float[(int) gpt.parameters.count()];
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
        kernels.write(gpt.parameters.all(), host, 0);
        return gpt;
    }

    /** The model of a checkpoint: weights, AdamW moments, step and random state. */
    public static Gpt restore(Checkpoint checkpoint, Kernels kernels, TrainingOptions options) {
        Gpt gpt = new Gpt(checkpoint.config(), kernels, options, checkpoint.rngState(), checkpoint.step());
        kernels.write(gpt.parameters.all(), checkpoint.parameters(), 0);
        kernels.write(gpt.parameters.m(), checkpoint.m(), 0);
        kernels.write(gpt.parameters.v(), checkpoint.v(), 0);
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
        return trainStep(CheckedTokens.check(config, tokens, B, T));
    }

    /** As {@link #trainStep(int[], int, int)}, on ids already checked: they are not checked again. */
    public StepResult trainStep(CheckedTokens batch) {
        batch.requireFits(config);
        int B = batch.rows();
        int T = batch.sequenceLength();
        passes.upload(batch);
        double learningRate = prepareStep(B, T, B, 0);
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
        return trainStep(CheckedTokens.check(config, tokens, B, T), globalRows, reducer);
    }

    /**
     * As {@link #trainStep(int[], int, int, int, GradientReducer)}, on ids already checked (B may be 0): they are not
     * checked again.
     */
    public StepResult trainStep(CheckedTokens batch, int globalRows, GradientReducer reducer) {
        Objects.requireNonNull(reducer, "reducer");
        batch.requireFits(config);
        int B = batch.rows();
        int T = batch.sequenceLength();
        if (globalRows <= 0 || B < 0 || B > globalRows) {
            throw new IllegalArgumentException("this replica's rows B=" + B + " must be in [0, globalRows="
                    + globalRows + "] and the global batch must have rows");
        }
        if (reducer.worldSize() == 1 && B != globalRows) {
            throw new IllegalArgumentException("a world of one replica trains all " + globalRows
                    + " rows of the global batch, got B=" + B);
        }
        double learningRate = prepareStep(B, T, globalRows, reducer.rank());
        if (B > 0) {
            passes.upload(batch);
            kernels.captureStep((long) B << 32 | T, gradientWork);
        } else {
            kernels.fill(parameters.gradients(), 0f); // nothing to give: a zero contribution
        }
        reducer.allReduceSum(kernels, parameters.gradients());
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

    /**
     * Dropout with drop probability {@code p} in [0, 1) in the training steps from now on, where nanoGPT applies it:
     * on the embeddings, on the attention weights and on the output of each block's attention and MLP projections
     * (before their residual sums); never at evaluation or generation. 0 (the default) is no dropout: the same kernels,
     * bit for bit, as a model that never heard of it. Not saved in checkpoints: a setting of the run, as the learning
     * rate is.
     *
     * @throws IllegalArgumentException when p is outside [0, 1)
     * @throws UnsupportedOperationException when p > 0 and the backend has no dropout kernels
     */
    public void dropout(double p) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + p);
        }
        if (p > 0 && !kernels.supportsDropout()) {
            throw new UnsupportedOperationException("dropout " + p + " needs dropout kernels, which the "
                    + kernels.backendName() + " backend does not have; use dropout 0 on it");
        }
        this.dropout = (float) p;
    }

    /** The drop probability of the training steps, 0 = none. */
    public double dropout() {
        return dropout;
    }

    /** The key of the masks of optimizer step {@code step} on replica {@code rank}. */
    private long dropoutKey(long step, int rank) {
        return SplitMix64.mix(rng.state() ^ SplitMix64.mix(step * SplitMix64.GOLDEN_GAMMA + rank));
    }

    /** Sets the step fields; returns the learning rate of the step. */
    private double prepareStep(int B, int T, int globalRows, int rank) {
        double learningRate = options.schedule().at(step + 1);
        passes.dropout(dropout, dropoutKey(step + 1, rank));
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
        passes.forward(B, T, true, stepLossScale);
        passes.zeroGradients();
        passes.backward(B, T);
    }

    /** Global norm, clipping and AdamW over the gradients. */
    private void enqueueUpdate() {
        kernels.globalNorm(gradientNorm, parameters.gradients(), parameters.count());
        kernels.adamw(parameters.all(), parameters.m(), parameters.v(), parameters.gradients(), gradientNorm,
                parameters.count(), parameters.decayedSize(), (float) stepLearningRate,
                (float) options.beta1(), (float) options.beta2(), (float) options.eps(),
                (float) options.weightDecay(), (float) options.maxGradientNorm(), (int) (step + 1));
    }

    /** Loss and accuracy of {@code tokens} (B, T+1) without an update; one host synchronisation. */
    public EvalResult evaluate(int[] tokens, int B, int T) {
        return evaluate(CheckedTokens.check(config, tokens, B, T));
    }

    /** As {@link #evaluate(int[], int, int)}, on ids already checked: they are not checked again. */
    public EvalResult evaluate(CheckedTokens batch) {
        batch.requireFits(config);
        int B = batch.rows();
        int T = batch.sequenceLength();
        passes.upload(batch);
        passes.forward(B, T, false);
        kernels.read(figuresHost, 0, lossAndAccuracy);
        return new EvalResult(figuresHost[LOSS], figuresHost[ACCURACY]);
    }

    /**
     * An empty set of up to {@code capacity} evaluation batches of shape (B, T), resident in this model's backend
     * (2 * capacity * B * T ints); fill it with {@link EvaluationSet#add}.
     */
    public EvaluationSet evaluationSet(int capacity, int B, int T) {
        if (capacity < 1 || B < 1 || T < 1 || T > config.contextLength()) {
            throw new IllegalArgumentException("an evaluation set needs capacity >= 1, B >= 1 and 0 < T <= "
                    + config.contextLength() + ", got capacity " + capacity + ", B=" + B + ", T=" + T);
        }
        return new EvaluationSet(kernels, config, B, T, capacity);
    }

    /**
     * The mean loss and accuracy over every batch of {@code set}, without an update: forward of each resident batch,
     * loss and accuracy summed on the device, one host synchronisation at the end. Equal to the mean of
     * {@link #evaluate(int[], int, int)} over the same batches (up to float rounding of the sum).
     *
     * @throws IllegalArgumentException when the set is empty or belongs to another model's backend
     */
    public EvalResult evaluate(EvaluationSet set) {
        Objects.requireNonNull(set, "set");
        if (set.size() == 0) {
            throw new IllegalArgumentException("the evaluation set is empty: add a batch first");
        }
        int B = set.rows();
        int T = set.sequenceLength();
        kernels.fill(set.sums, 0f);
        for (int batch = 0; batch < set.size(); batch++) {
            passes.forwardResident(B, T, set.inputs(batch), set.targets(batch));
            kernels.residualForward(set.sums, set.sums, lossAndAccuracy, 2);
        }
        float[] sums = new float[2];
        kernels.read(sums, 0, set.sums);
        return new EvalResult(sums[0] / set.size(), sums[1] / set.size());
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
        TokenChecks.checkIds(config, prompt, 0, prompt.length, "prompt");
        if (maxNewTokens == 0) {
            return new int[0];
        }
        int kept = Math.min(prompt.length, contextLength - maxNewTokens);
        if (decoder == null) {
            decoder = new Decoder(config, kernels, parameters);
        }
        return decoder.generate(prompt, prompt.length - kept, kept, maxNewTokens, sampling, seed, newIds);
    }

    // ---- state -----------------------------------------------------------------------------------

    /** Reads parameters, moments, step and random state to the host. */
    public Checkpoint checkpoint(TokenizerIdentity tokenizer, Map<String, String> metadata) {
        Objects.requireNonNull(tokenizer, "tokenizer");
        if (tokenizer.vocabularySize() != config.vocabularySize()) {
            throw new IllegalArgumentException("tokenizer '" + tokenizer.name() + "' has " + tokenizer.vocabularySize()
                    + " ids but the model's vocabulary is " + config.vocabularySize());
        }
        return new Checkpoint(config, tokenizer, step, rng.state(), readAll(parameters.all()), readAll(parameters.m()),
                readAll(parameters.v()), metadata);
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
        passes.upload(CheckedTokens.check(config, tokens, B, T));
        passes.forward(B, T, false);
        return readAll(passes.logits());
    }

    /**
     * For verification: forward, zero-grad and backward of {@code tokens} (B, T+1) without an update;
     * returns the loss. Read the gradients with {@link #gradients()}.
     */
    public double forwardBackward(int[] tokens, int B, int T) {
        passes.upload(CheckedTokens.check(config, tokens, B, T));
        passes.dropout(dropout, dropoutKey(step + 1, 0)); // the masks of the next training step
        passes.forward(B, T, true);
        passes.zeroGradients();
        passes.backward(B, T);
        kernels.read(figuresHost, 0, lossAndAccuracy);
        return figuresHost[LOSS];
    }

    /** For verification: the gradients of the last backward, in the flat {@link ParameterTensor} layout. */
    public float[] gradients() {
        return readAll(parameters.gradients());
    }

    /** Closes the kernels and with them every buffer of this model. */
    @Override
    public void close() {
        kernels.close();
    }
}
