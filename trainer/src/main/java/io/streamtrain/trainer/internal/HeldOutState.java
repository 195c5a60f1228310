package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.EvalResult;
import io.streamtrain.model.EvaluationSet;
import io.streamtrain.model.Gpt;
import io.streamtrain.trainer.TrainerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * The held-out side of a resident model: the evaluation batches resident on its backend, the lowest held-out loss of
 * the run and its step (carried by the checkpoints, so that a restart goes on comparing with the best before it), and
 * the best checkpoint, kept apart from the rotation. Not thread-safe: {@code ResidentModel} guards it; rank 0 of a
 * world calls it from its one loop.
 */
public final class HeldOutState implements HeldOutModel {
    /** Checkpoint metadata: the lowest held-out loss of the run so far, and its step. */
    public static final String BEST_LOSS_KEY = "eval.best.loss";
    public static final String BEST_STEP_KEY = "eval.best.step";

    private final Gpt gpt;
    private final int rows;
    private final int sequenceLength;
    private final CheckpointStore bestCheckpoints; // null when checkpoint.best is off
    private final Supplier<Checkpoint> bestCheckpoint;
    private EvaluationSet set;                     // made on the first evaluation batch
    private double bestLoss = Double.POSITIVE_INFINITY;
    private long bestStep = -1;

    /**
     * @param gpt             the model evaluated (replica 0 of several: they hold the same weights)
     * @param bestCheckpoints where the best checkpoint goes; null when none is kept
     * @param bestCheckpoint  the checkpoint to keep as the best, asked for at a new best (the model's weights and
     *                        what its owner's checkpoints carry, {@link #writeTo} included)
     * @param restored        the restored checkpoint's metadata (empty for a new model)
     */
    public HeldOutState(Gpt gpt, int rows, int sequenceLength, CheckpointStore bestCheckpoints,
                        Supplier<Checkpoint> bestCheckpoint, Map<String, String> restored) {
        this.gpt = gpt;
        this.bestCheckpoint = bestCheckpoint;
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.bestCheckpoints = bestCheckpoints;
        if (restored.containsKey(BEST_LOSS_KEY)) {
            bestLoss = Double.parseDouble(restored.get(BEST_LOSS_KEY));
            bestStep = Long.parseLong(restored.getOrDefault(BEST_STEP_KEY, "-1"));
        }
    }

    /** Where {@code config} keeps the best checkpoint ({@code <checkpoint.dir>/best}); null when it keeps none. */
    public static CheckpointStore bestCheckpoints(TrainerConfig config) {
        return config.checkpointBest() ? new CheckpointStore(config.bestCheckpointDir(), 1) : null;
    }

    @Override
    public void addEvaluationBatch(CheckedTokens batch, int capacity) {
        if (set == null) {
            set = gpt.evaluationSet(capacity, rows, sequenceLength);
        }
        set.add(batch);
    }

    @Override
    public Optional<EvalResult> evaluate() {
        return set == null ? Optional.empty() : Optional.of(gpt.evaluate(set));
    }

    @Override
    public int evaluationBatches() {
        return set == null ? 0 : set.size();
    }

    @Override
    public long evaluationTokens() {
        return set == null ? 0 : set.tokens();
    }

    @Override
    public boolean recordEvaluation(long step, double loss) {
        if (!(loss < bestLoss)) {
            return false;
        }
        bestLoss = loss;
        bestStep = step;
        return true;
    }

    @Override
    public double bestEvaluationLoss() { return bestLoss; }

    @Override
    public long bestEvaluationStep() { return bestStep; }

    /** The best loss and its step as checkpoint metadata, once there is one. */
    public void writeTo(Map<String, String> metadata) {
        if (bestStep >= 0) {
            metadata.put(BEST_LOSS_KEY, Double.toString(bestLoss));
            metadata.put(BEST_STEP_KEY, Long.toString(bestStep));
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws UncheckedIOException when it cannot be written, naming the directory
     */
    @Override
    public Optional<Path> checkpointBest() {
        if (bestCheckpoints == null) {
            return Optional.empty();
        }
        Checkpoint checkpoint = bestCheckpoint.get();
        try {
            return Optional.of(bestCheckpoints.write(checkpoint));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the best checkpoint of step " + checkpoint.step() + " to "
                    + bestCheckpoints.directory() + ": " + e.getMessage() + "; check free space and permissions", e);
        }
    }
}
