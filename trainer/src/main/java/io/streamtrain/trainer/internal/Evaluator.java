package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.EvalResult;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.ResidentModel;
import io.streamtrain.trainer.TrainerListener;
import java.util.List;
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
 * Used on the stream thread only.
 */
public final class Evaluator {
    private final ResidentModel model;
    private final Supplier<List<CheckedTokens>> arrivals;
    private final int everySteps;
    private final long maxSteps;
    private final int capacity;
    private int batchesSeen;
    private long lastEvaluatedStep = -1;
    private final OverfitWatch overfit;

    /**
     * @param arrivals   new evaluation batches (B, T+1) since the last call, e.g. {@link EvaluationBatchLoader#take}
     * @param everySteps evaluate every N steps; 0 = never
     * @param maxSteps   the last step, evaluated whatever N; 0 = none
     * @param capacity   batches of the set
     * @param patience   evaluations of rising held-out loss under falling training loss before the warning
     */
    public Evaluator(ResidentModel model, Supplier<List<CheckedTokens>> arrivals, int everySteps, long maxSteps,
                     int capacity, int patience) {
        this.model = model;
        this.arrivals = arrivals;
        this.everySteps = everySteps;
        this.maxSteps = maxSteps;
        this.capacity = capacity;
        this.overfit = new OverfitWatch(patience);
    }

    /** An evaluator that never evaluates. */
    public static Evaluator none(ResidentModel model) {
        return new Evaluator(model, List::of, 0, 0, 1, 1);
    }

    /** Counts the loss of an applied training step into the mean between evaluations. */
    public void recordTrainingLoss(double loss) {
        overfit.recordTrainingLoss(loss);
    }

    /** Evaluates when {@code step} is due (every N, or max.steps); empty when not due or no batch arrived yet. */
    public Optional<Evaluation> evaluateIfDue(long step) {
        boolean due = everySteps > 0 && (step % everySteps == 0 || step == maxSteps);
        return due ? evaluate(step) : Optional.empty();
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
}
