package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.EvalResult;
import io.streamtrain.model.EvaluationSet;
import io.streamtrain.model.Gpt;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * The held-out side of a resident model: the evaluation batches resident on its backend, the lowest held-out loss of
 * the run and its step (carried by the checkpoints, so that a restart goes on comparing with the best before it), and
 * the best checkpoint, kept apart from the rotation. Not thread-safe: {@code ResidentModel} guards it.
 */
public final class HeldOutState {
    /** Checkpoint metadata: the lowest held-out loss of the run so far, and its step. */
    public static final String BEST_LOSS_KEY = "eval.best.loss";
    public static final String BEST_STEP_KEY = "eval.best.step";

    private final int rows;
    private final int sequenceLength;
    private final CheckpointStore bestCheckpoints; // null when checkpoint.best is off
    private EvaluationSet set;                     // made on the first evaluation batch
    private double bestLoss = Double.POSITIVE_INFINITY;
    private long bestStep = -1;

    /**
     * @param bestCheckpoints where the best checkpoint goes; null when none is kept
     * @param restored        the restored checkpoint's metadata (empty for a new model)
     */
    public HeldOutState(int rows, int sequenceLength, CheckpointStore bestCheckpoints, Map<String, String> restored) {
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.bestCheckpoints = bestCheckpoints;
        if (restored.containsKey(BEST_LOSS_KEY)) {
            bestLoss = Double.parseDouble(restored.get(BEST_LOSS_KEY));
            bestStep = Long.parseLong(restored.getOrDefault(BEST_STEP_KEY, "-1"));
        }
    }

    /** Uploads one more batch to {@code gpt}'s backend, into a set of {@code capacity} batches made on the first. */
    public void add(Gpt gpt, CheckedTokens batch, int capacity) {
        if (set == null) {
            set = gpt.evaluationSet(capacity, rows, sequenceLength);
        }
        set.add(batch);
    }

    /** Loss and accuracy of {@code gpt} over the set; empty while it has no batch. */
    public Optional<EvalResult> evaluate(Gpt gpt) {
        return set == null ? Optional.empty() : Optional.of(gpt.evaluate(set));
    }

    /** Batches in the set. */
    public int batches() {
        return set == null ? 0 : set.size();
    }

    /** Positions in the set. */
    public long tokens() {
        return set == null ? 0 : set.tokens();
    }

    /** Notes the held-out loss of {@code step}; true when it is the lowest of the run so far. */
    public boolean record(long step, double loss) {
        if (!(loss < bestLoss)) {
            return false;
        }
        bestLoss = loss;
        bestStep = step;
        return true;
    }

    /** The lowest held-out loss so far (infinite before any evaluation). */
    public double bestLoss() { return bestLoss; }

    /** The step of {@link #bestLoss()}, -1 before any evaluation. */
    public long bestStep() { return bestStep; }

    /** The best loss and its step as checkpoint metadata, once there is one. */
    public void writeTo(Map<String, String> metadata) {
        if (bestStep >= 0) {
            metadata.put(BEST_LOSS_KEY, Double.toString(bestLoss));
            metadata.put(BEST_STEP_KEY, Long.toString(bestStep));
        }
    }

    /**
     * Writes {@code checkpoint} as the best one, replacing the previous best; empty when no best checkpoint is kept.
     *
     * @throws UncheckedIOException when it cannot be written, naming the directory
     */
    public Optional<Path> writeBest(Checkpoint checkpoint) {
        if (bestCheckpoints == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(bestCheckpoints.write(checkpoint));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the best checkpoint of step " + checkpoint.step() + " to "
                    + bestCheckpoints.directory() + ": " + e.getMessage() + "; check free space and permissions", e);
        }
    }

    /** Whether a best checkpoint is kept ({@code checkpoint.best}). */
    public boolean keepsBest() {
        return bestCheckpoints != null;
    }
}
