package io.streamtrain.trainer.internal;

import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.TrainerListener;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * The console's view of training: a one-line summary every N steps, and a line per spike, dead letter and checkpoint.
 */
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
        if (metrics.getSpike() != null) {
            console.println(spikeWarning(metrics));
        }
    }

    /** {@code warning: spike at step 23: gradient norm 270.1 is 45.0x its recent average 6.00 (...)}. */
    public static String spikeWarning(TrainingMetrics metrics) {
        return "warning: spike at step " + metrics.getStep() + ": " + metrics.getSpike() + " (the step was trained;"
                + " gradients are clipped to max.gradient.norm; frequent spikes call for a lower learning.rate or a"
                + " longer warm-up)";
    }

    /**
     * {@code step     10 | loss 5.2313 | acc 0.061 | lr 3.00e-04 | 12345 tok/s}; data-parallel, then
     * {@code | 2 ranks, 8 rows | all-reduce 1.3 ms} (the all-reduce where it is measured).
     */
    public static String line(TrainingMetrics metrics) {
        String line = String.format("step %6d | loss %.4f | acc %.3f | lr %.2e | %.0f tok/s", metrics.getStep(),
                metrics.getLoss(), metrics.getAccuracy(), metrics.getLearningRate(), metrics.getTokensPerSecond());
        if (metrics.getRanks() != null) {
            line += " | " + metrics.getRanks() + " ranks, " + metrics.getGlobalRows() + " rows"
                    + (metrics.getAllReduceMillis() == null ? ""
                    : String.format(" | all-reduce %.1f ms", metrics.getAllReduceMillis()));
        }
        return line;
    }

    @Override
    public void onEvaluation(Evaluation evaluation) {
        console.println(line(evaluation));
        if (evaluation.overfitting()) {
            console.println("warning: the held-out loss rose at the last evaluations while the training loss kept "
                    + "falling: the model is memorising its training data (best held-out loss "
                    + String.format("%.4f", evaluation.bestLoss()) + " at step " + evaluation.bestStep()
                    + "; its checkpoint is kept in checkpoint.dir/best). More data, dropout, or stopping there helps.");
        }
    }

    /** {@code eval   1000 | held-out loss 1.6012 | acc 0.512 | ppl 4.96 | 65536 tokens | best 1.6012 at step 1000}. */
    public static String line(Evaluation evaluation) {
        return String.format("eval %6d | held-out loss %.4f | acc %.3f | ppl %.2f | %d tokens | best %.4f at step %d",
                evaluation.step(), evaluation.loss(), evaluation.accuracy(), evaluation.perplexity(),
                evaluation.tokens(), evaluation.bestLoss(), evaluation.bestStep());
    }

    /**
     * The closing line of a run that evaluated, {@code best held-out loss 1.6012 at step 1000 (its checkpoint: DIR)};
     * empty before any evaluation.
     */
    public static Optional<String> bestLine(HeldOutModel model, TrainerConfig config) {
        if (model.bestEvaluationStep() < 0) {
            return Optional.empty();
        }
        return Optional.of(String.format(Locale.ROOT, "best held-out loss %.4f at step %d%s",
                model.bestEvaluationLoss(), model.bestEvaluationStep(), config.checkpointBest()
                        ? " (its checkpoint: " + config.bestCheckpointDir() + ")" : ""));
    }

    @Override
    public void onBestCheckpoint(Path path, Evaluation evaluation) {
        console.println("best checkpoint (held-out loss " + String.format("%.4f", evaluation.loss()) + ") of step "
                + evaluation.step() + " written to " + path);
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
