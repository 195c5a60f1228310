package io.streamtrain.trainer.internal;

/**
 * Tells, once, when the held-out loss rose at {@code patience} evaluations in a row while the mean training loss
 * between evaluations kept falling: the sign of a model memorising its training data. Not thread-safe.
 */
public final class OverfitWatch {
    private final int patience;
    private double trainLossSum;
    private long trainLossCount;
    private double previousLoss = Double.NaN;
    private double previousTrainLoss = Double.NaN;
    private int rises;
    private boolean told;

    /** @param patience evaluations of rising held-out loss under falling training loss, at least 1 */
    public OverfitWatch(int patience) {
        if (patience < 1) {
            throw new IllegalArgumentException("patience must be at least 1, got " + patience);
        }
        this.patience = patience;
    }

    /** One training step's loss, counted into the mean until the next evaluation. */
    public void recordTrainingLoss(double loss) {
        trainLossSum += loss;
        trainLossCount++;
    }

    /** An evaluation's held-out loss; true the one time the pattern is first complete. */
    public boolean recordEvaluation(double loss) {
        double trainLoss = trainLossCount > 0 ? trainLossSum / trainLossCount : Double.NaN;
        boolean rose = loss > previousLoss && trainLoss < previousTrainLoss; // false while either is NaN
        rises = rose ? rises + 1 : 0;
        boolean tell = !told && rises >= patience;
        told |= tell;
        previousLoss = loss;
        previousTrainLoss = trainLoss;
        trainLossSum = 0;
        trainLossCount = 0;
        return tell;
    }
}
