package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.EvalResult;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.TrainerListener;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Held-out evaluation in the training loop: every {@code eval.every.steps} steps, at {@code max.steps} and when the
 * trainer stops before (Ctrl-C, shutdown) on a step not yet evaluated, the mean loss and accuracy over the evaluation
 * set resident on the device, without an update.
 *
 * <p>The set on a continuous stream: the first {@code eval.batches} batches of the evaluation topic, from its
 * beginning. They are uploaded to the device as they arrive (an evaluation covers those present, and says how many
 * tokens), and the set is frozen once full, so that every later evaluation of the run, and of its restarts (which
 * read the same first batches), is over the same text and the figures compare. To evaluate on newer text, start a
 * new run or produce the new evaluation corpus to another topic.
 *
 * <p>It also keeps the mean training loss between evaluations, to warn once when the held-out loss rose at
 * {@code patience} evaluations in a row while that mean kept falling: the model is memorising its training data.
 * Used on the stream thread only (the one-process trainer), or on rank 0's loop (a world of ranks, where rank 0
 * evaluates for the world: every rank holds the same weights).
 */
public final class Evaluator implements AutoCloseable {
    /** How long {@link #open} waits for the evaluation batches already in their topic. */
    private static final Duration INITIAL_BATCHES_WAIT = Duration.ofSeconds(30);

    private final HeldOutModel model;
    private final Supplier<List<CheckedTokens>> arrivals;
    private final int everySteps;
    private final long maxSteps;
    private final int capacity;
    private int batchesSeen;
    private long lastEvaluatedStep = -1;
    private final OverfitWatch overfit;
    private EvaluationBatchLoader loader; // set by open; null when the arrivals come from elsewhere

    /**
     * @param arrivals   new evaluation batches (B, T+1) since the last call, e.g. {@link EvaluationBatchLoader#take}
     * @param everySteps evaluate every N steps; 0 = never
     * @param maxSteps   the last step, evaluated whatever N; 0 = none
     * @param capacity   batches of the set
     * @param patience   evaluations of rising held-out loss under falling training loss before the warning
     */
    public Evaluator(HeldOutModel model, Supplier<List<CheckedTokens>> arrivals, int everySteps, long maxSteps,
                     int capacity, int patience) {
        this.model = model;
        this.arrivals = arrivals;
        this.everySteps = everySteps;
        this.maxSteps = maxSteps;
        this.capacity = capacity;
        this.overfit = new OverfitWatch(patience);
    }

    /** An evaluator that never evaluates. */
    public static Evaluator none(HeldOutModel model) {
        return new Evaluator(model, List::of, 0, 0, 1, 1);
    }

    /**
     * The evaluator {@code config} asks for: none when {@code eval.every.steps} is 0, else one over the first
     * {@code eval.batches} batches of {@code topic.eval.batches}, read by an {@link EvaluationBatchLoader} (closed
     * with this evaluator) for which it waits up to 30 s, so that a run whose evaluation data was produced first
     * evaluates on the whole set from its first evaluation.
     *
     * @param clientConfig the loader's Kafka client settings
     */
    public static Evaluator open(TrainerConfig config, HeldOutModel model, Map<String, Object> clientConfig,
                                 TokenizerIdentity tokenizer, GptConfig shape, PrintStream log) {
        if (config.evalEverySteps() == 0) {
            return none(model);
        }
        EvaluationBatchLoader loader = new EvaluationBatchLoader(clientConfig, config.evalTopic(),
                config.evalBatches(), tokenizer, shape, config.batchRows(), config.sequenceLength(), log);
        try {
            if (!loader.awaitInitialBatches(INITIAL_BATCHES_WAIT)) {
                log.println("evaluation set: " + config.evalTopic() + " not read within "
                        + INITIAL_BATCHES_WAIT.toSeconds() + " s; evaluations use what arrives");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Evaluator evaluator = new Evaluator(model, loader::take, config.evalEverySteps(), config.maxSteps(),
                config.evalBatches(), config.evalOverfitPatience());
        evaluator.loader = loader;
        return evaluator;
    }

    /** Whether an evaluation is due after {@code step}: every {@code everySteps} (0: never), and at max.steps. */
    public static boolean due(long step, int everySteps, long maxSteps) {
        return everySteps > 0 && (step % everySteps == 0 || step == maxSteps);
    }

    /** Whether this evaluator evaluates at all. */
    public boolean enabled() {
        return everySteps > 0;
    }

    /** Counts the loss of an applied training step into the mean between evaluations. */
    public void recordTrainingLoss(double loss) {
        overfit.recordTrainingLoss(loss);
    }

    /** Evaluates when {@code step} is due (every N, or max.steps); empty when not due or no batch arrived yet. */
    public Optional<Evaluation> evaluateIfDue(long step) {
        return due(step, everySteps, maxSteps) ? evaluate(step) : Optional.empty();
    }

    /**
     * The evaluation of a trainer that stops at {@code step}: evaluates when evaluations are on and that step was
     * trained here and not evaluated yet (so a stop at max.steps does not evaluate twice).
     */
    public Optional<Evaluation> evaluateAtStop(long step, boolean trainedHere) {
        return everySteps > 0 && trainedHere && step != lastEvaluatedStep ? evaluate(step) : Optional.empty();
    }

    /**
     * Tells {@code listener} of {@code evaluation}: onEvaluation, onHeldOutLoss, and for a new best, its checkpoint
     * (written here) with onBestCheckpoint and onNewBest.
     */
    public void announce(Evaluation evaluation, TrainerListener listener) {
        listener.onEvaluation(evaluation);
        listener.onHeldOutLoss(evaluation.step(), evaluation.loss());
        if (evaluation.newBest()) {
            model.checkpointBest().ifPresent(path -> {
                listener.onBestCheckpoint(path, evaluation);
                listener.onNewBest(path, evaluation.step(), evaluation.loss());
            });
        }
    }

    /** Evaluates now, after {@code step}; empty when no evaluation batch arrived yet. */
    public Optional<Evaluation> evaluate(long step) {
        if (batchesSeen < capacity) {
            for (CheckedTokens batch : arrivals.get()) {
                if (batchesSeen < capacity) {
                    model.addEvaluationBatch(batch, capacity);
                    batchesSeen++;
                }
            }
        }
        Optional<EvalResult> result = model.evaluate();
        if (result.isEmpty()) {
            return Optional.empty();
        }
        lastEvaluatedStep = step;
        double loss = result.get().loss();
        boolean newBest = model.recordEvaluation(step, loss);
        boolean overfitting = overfit.recordEvaluation(loss);
        return Optional.of(new Evaluation(step, loss, result.get().accuracy(), model.evaluationBatches(),
                model.evaluationTokens(), model.bestEvaluationLoss(), model.bestEvaluationStep(), newBest,
                overfitting));
    }

    /** Stops reading the evaluation topic, if this evaluator reads it. */
    @Override
    public void close() {
        if (loader != null) {
            loader.close();
        }
    }
}
