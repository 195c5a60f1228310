package io.streamtrain.trainer;

import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.nio.file.Path;
import java.util.List;

/**
 * Hooks into the training loop, e.g. for live progress and run-directory files. Called on the stream thread after
 * the records are forwarded to their topics: keep the work short and never throw (an exception is logged and
 * dropped). All methods default to doing nothing.
 */
public interface TrainerListener {

    /** One applied training step, the same record the metrics topic receives. */
    default void onStep(TrainingMetrics metrics) {}

    /** A generated sample, the same record the samples topic receives. */
    default void onSample(TextSample sample) {}

    /** A checkpoint was written to {@code path}. */
    default void onCheckpoint(Path path, long step) {}

    /** A batch went to the dead-letter topic; {@code message} is the reason as in its header. */
    default void onDeadLetter(DeadLetterReason reason, String message) {}

    /**
     * The model was evaluated on held-out data after step {@code step}: its mean loss there. The held-out evaluation
     * calls it; the models topic uses it as the held-out loss of a checkpoint of the same step.
     */
    default void onHeldOutLoss(long step, double loss) {}

    /**
     * The model of step {@code step} has the lowest held-out loss of the run so far, {@code heldOutLoss}, and is
     * saved in {@code checkpoint}. The held-out evaluation calls it; the models topic announces it keyed
     * {@code <run id>/best}.
     */
    default void onNewBest(Path checkpoint, long step, double heldOutLoss) {}

    /** A held-out evaluation, after the step's {@link #onStep} (whose record carries the same figures). */
    default void onEvaluation(Evaluation evaluation) {}

    /**
     * A new best held-out loss: the model of {@code evaluation.step()} was written to {@code path} as the best
     * checkpoint, kept apart from the rotation (replacing the previous best). Called after {@link #onEvaluation}.
     */
    default void onBestCheckpoint(Path path, Evaluation evaluation) {}

    /** A listener that forwards to each of {@code listeners} in order, one failing listener not stopping the others. */
    static TrainerListener all(List<TrainerListener> listeners) {
        List<TrainerListener> copy = List.copyOf(listeners);
        return new TrainerListener() {
            @Override
            public void onStep(TrainingMetrics metrics) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onStep(metrics)));
            }

            @Override
            public void onSample(TextSample sample) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onSample(sample)));
            }

            @Override
            public void onCheckpoint(Path path, long step) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onCheckpoint(path, step)));
            }

            @Override
            public void onDeadLetter(DeadLetterReason reason, String message) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onDeadLetter(reason, message)));
            }

            @Override
            public void onHeldOutLoss(long step, double loss) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onHeldOutLoss(step, loss)));
            }

            @Override
            public void onNewBest(Path checkpoint, long step, double heldOutLoss) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onNewBest(checkpoint, step, heldOutLoss)));
            }

            @Override
            public void onEvaluation(Evaluation evaluation) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onEvaluation(evaluation)));
            }

            @Override
            public void onBestCheckpoint(Path path, Evaluation evaluation) {
                copy.forEach(listener -> Listeners.safely(() -> listener.onBestCheckpoint(path, evaluation)));
            }
        };
    }
}
