package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.EvalResult;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What the held-out evaluation ({@link Evaluator}) needs of a model: its resident evaluation set, the best held-out
 * loss of the run, and the best checkpoint. {@link HeldOutState} is the one implementation over a model; the
 * one-process trainer's {@code ResidentModel} guards it with its lock, and rank 0 of a world uses it as it is.
 */
public interface HeldOutModel {

    /** Uploads one more evaluation batch (B, T+1), into a set of {@code capacity} batches made on the first call. */
    void addEvaluationBatch(CheckedTokens batch, int capacity);

    /** Loss and accuracy over the resident evaluation set without an update; empty while it has no batch. */
    Optional<EvalResult> evaluate();

    /** Batches in the evaluation set. */
    int evaluationBatches();

    /** Positions in the evaluation set. */
    long evaluationTokens();

    /**
     * Notes the held-out loss of {@code step}; true when it is the lowest of the run so far (kept in checkpoints, so
     * a restart goes on comparing with the best before it).
     */
    boolean recordEvaluation(long step, double loss);

    /** The lowest held-out loss so far (infinite before any evaluation). */
    double bestEvaluationLoss();

    /** The step of {@link #bestEvaluationLoss()}, -1 before any evaluation. */
    long bestEvaluationStep();

    /**
     * Writes the model as the best checkpoint, {@code <checkpoint.dir>/best/step-N.safetensors}, replacing the
     * previous best; rotation never deletes it. Empty when {@code checkpoint.best} is off.
     */
    Optional<Path> checkpointBest();
}
