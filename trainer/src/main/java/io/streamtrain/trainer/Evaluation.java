package io.streamtrain.trainer;

import io.streamtrain.schemas.TrainingMetrics;

/**
 * One evaluation over the held-out set, after the step {@code step}, without an update.
 *
 * @param step        the optimizer step evaluated (its metrics record carries these figures)
 * @param loss        mean cross-entropy over the evaluation set, in nats
 * @param accuracy    fraction of positions whose argmax is the target
 * @param batches     batches in the evaluation set
 * @param tokens      positions evaluated (batches * B * T)
 * @param bestLoss    the lowest held-out loss of the run so far, this one included
 * @param bestStep    the step of that loss
 * @param newBest     whether this evaluation set a new best (the best checkpoint is then written)
 * @param overfitting true at the one evaluation where the held-out loss had risen {@code eval.overfit.patience}
 *                    times in a row while the training loss kept falling (warned once per process)
 */
public record Evaluation(long step, double loss, double accuracy, int batches, long tokens, double bestLoss,
                         long bestStep, boolean newBest, boolean overfitting) {

    /** exp(loss). */
    public double perplexity() {
        return Math.exp(loss);
    }

    /** Puts these figures into the evaluated step's metrics record ({@code evalLoss} ... {@code evalTokens}). */
    public void addTo(TrainingMetrics.Builder record) {
        record.setEvalLoss(loss).setEvalAccuracy(accuracy).setEvalPerplexity(perplexity()).setEvalTokens(tokens);
    }
}
