package io.streamtrain.cli.demo;

import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.TrainerListener;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * The demo's live view, fed by the trainer on its stream thread: a progress line per step (redrawn in place on a
 * terminal; every {@code logEvery} steps otherwise), a warning for each step the trainer reports as a spike, and each
 * text sample as it arrives.
 */
final class DemoConsole implements TrainerListener {
    /**
     * Steps measured before an ETA is given: the first steps include the start (broker, JVM warm-up, the first
     * batch's wait), so an ETA from them alone was 30 times too long.
     */
    static final int ETA_AFTER_STEPS = 5;

    private final PrintWriter out;
    private final long maxSteps;
    private final long logEvery;
    private final boolean terminal;
    private final LongSupplier nanoTime;
    private final long startNanos;
    /** The first step this console saw and when: the ETA is the pace since then. */
    private long firstStep = -1;
    private long firstStepNanos;
    private final AtomicLong lastStep = new AtomicLong();
    private final AtomicLong deadLetters = new AtomicLong();
    private boolean lineOpen;

    DemoConsole(PrintWriter out, long maxSteps, boolean terminal) {
        this(out, maxSteps, terminal, System::nanoTime);
    }

    DemoConsole(PrintWriter out, long maxSteps, boolean terminal, LongSupplier nanoTime) {
        this.out = out;
        this.nanoTime = nanoTime;
        this.startNanos = nanoTime.getAsLong();
        this.maxSteps = maxSteps;
        this.logEvery = Math.max(1, maxSteps / 20);
        this.terminal = terminal;
    }

    /** The latest step seen. */
    long lastStep() {
        return lastStep.get();
    }

    long deadLetters() {
        return deadLetters.get();
    }

    @Override
    public synchronized void onStep(TrainingMetrics metrics) {
        lastStep.set(metrics.getStep());
        String line = progress(metrics);
        if (terminal) {
            out.print("\r" + line + "\u001b[K");
            lineOpen = true;
        } else if (metrics.getStep() % logEvery == 0 || metrics.getStep() == 1 || metrics.getStep() >= maxSteps) {
            out.println(line);
        }
        if (metrics.getSpike() != null) { // the trainer's spike.warning.* ratios
            endLine();
            out.println("warning: spike at step " + metrics.getStep() + ": " + metrics.getSpike());
        }
        out.flush();
    }

    @Override
    public synchronized void onEvaluation(Evaluation evaluation) {
        if (lineOpen) {
            out.println();
            lineOpen = false;
        }
        out.println(String.format(Locale.ROOT, "held-out at step %d: loss %.4f  acc %5.1f%%  (%,d tokens; best %.4f at step"
                        + " %d)", evaluation.step(), evaluation.loss(), 100 * evaluation.accuracy(), evaluation.tokens(),
                evaluation.bestLoss(), evaluation.bestStep()));
        if (evaluation.overfitting()) {
            out.println("warning: the held-out loss keeps rising while the training loss falls: the model memorises");
        }
        out.flush();
    }

    @Override
    public synchronized void onSample(TextSample sample) {
        endLine();
        out.println(String.format(Locale.ROOT, "--- sample at step %d (temperature %.1f, top-k %d) ---",
                sample.getStep(), sample.getTemperature(), sample.getTopK()));
        out.println("  prompt:    " + printable(sample.getPrompt()));
        out.println("  generated: " + printable(sample.getGenerated()));
        out.println("  actual:    " + printable(sample.getActual()));
        out.flush();
    }

    @Override
    public synchronized void onDeadLetter(DeadLetterReason reason, String message) {
        deadLetters.incrementAndGet();
        endLine();
        out.println("dead letter (" + reason + "): " + message);
        out.flush();
    }

    /** Ends a progress line redrawn in place, so that the next output starts on its own line. */
    synchronized void endLine() {
        if (lineOpen) {
            out.println();
            lineOpen = false;
        }
    }

    private String progress(TrainingMetrics m) {
        long now = nanoTime.getAsLong();
        double elapsed = (now - startNanos) / 1e9;
        long step = m.getStep();
        if (firstStep < 0 || step < firstStep) {
            firstStep = step;
            firstStepNanos = now;
        }
        String eta = "";
        if (maxSteps > 0 && step > 0 && step < maxSteps) {
            long measured = step - firstStep;
            eta = measured < ETA_AFTER_STEPS ? "  ETA estimating"
                    : "  ETA " + duration((now - firstStepNanos) / 1e9 / measured * (maxSteps - step));
        }
        return String.format(Locale.ROOT, "step %5d%s  loss %.4f  acc %5.1f%%  %,9.0f tok/s  lr %.2e  %s%s",
                step, maxSteps > 0 ? "/" + maxSteps : "", m.getLoss(), 100 * m.getAccuracy(), m.getTokensPerSecond(),
                m.getLearningRate(), duration(elapsed), eta);
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", s / 3600, s / 60 % 60)
                : s >= 60 ? String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60) : s + "s";
    }

    /** One line: line breaks and tabs shown as escapes, other control characters dropped, quoted. */
    static String printable(String text) {
        StringBuilder out = new StringBuilder(text.length() + 2).append('"');
        text.codePoints().forEach(c -> {
            switch (c) {
                case '\n' -> out.append("\\n");
                case '\t' -> out.append("\\t");
                case '"' -> out.append("\\\"");
                default -> {
                    if (!Character.isISOControl(c)) {
                        out.appendCodePoint(c);
                    }
                }
            }
        });
        return out.append('"').toString();
    }
}
