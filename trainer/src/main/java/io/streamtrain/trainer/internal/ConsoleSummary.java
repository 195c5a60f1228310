package io.streamtrain.trainer.internal;

import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.TrainerListener;
import java.io.PrintStream;
import java.nio.file.Path;

/** The console's view of training: a one-line summary every N steps, and a line per dead letter and checkpoint. */
public final class ConsoleSummary implements TrainerListener {
    private final PrintStream console;
    private final int everySteps;

    /** @param everySteps print a summary every N steps; 0 = never */
    public ConsoleSummary(PrintStream console, int everySteps) {
        this.console = console;
        this.everySteps = everySteps;
    }

    @Override
    public void onStep(TrainingMetrics metrics) {
        if (everySteps > 0 && metrics.getStep() % everySteps == 0) {
            console.println(line(metrics));
        }
    }

    /** {@code step     10 | loss 5.2313 | acc 0.061 | lr 3.00e-04 | 12345 tok/s}. */
    public static String line(TrainingMetrics metrics) {
        return String.format("step %6d | loss %.4f | acc %.3f | lr %.2e | %.0f tok/s", metrics.getStep(),
                metrics.getLoss(), metrics.getAccuracy(), metrics.getLearningRate(), metrics.getTokensPerSecond());
    }

    @Override
    public void onCheckpoint(Path path, long step) {
        console.println("checkpoint of step " + step + " written to " + path);
    }

    @Override
    public void onDeadLetter(DeadLetterReason reason, String message) {
        console.println("dead letter: " + message);
    }
}
