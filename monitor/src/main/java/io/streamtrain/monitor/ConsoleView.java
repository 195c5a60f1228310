package io.streamtrain.monitor;

import io.streamtrain.monitor.internal.DaemonThreads;
import io.streamtrain.monitor.internal.Smoothing;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.io.PrintStream;
import java.time.Duration;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The live view as a compact terminal table: per run the latest step, loss (raw and EMA-smoothed), perplexity,
 * accuracy, tokens/s, learning rate and gradient norm; the dead-letter and spike counts and consumer lag; the latest
 * spike and sample. On a terminal ({@code ansi}) the table is redrawn in place; otherwise (a log file, a pipe) each
 * refresh prints only plain lines for what is new: one per run that advanced, one per spike the trainer reported, one
 * per new sample, one when dead letters arrive.
 */
public final class ConsoleView implements AutoCloseable {
    private static final String CLEAR_SCREEN = "\033[H\033[2J";
    private static final String ROW = "%-22s %8s %9s %9s %10s %7s %10s %9s %9s%n";
    private static final int TEXT_WIDTH = 100;

    private final RunStore store;
    private final PrintStream out;
    private final boolean ansi;
    private final Map<String, Long> printedStep = new HashMap<>();
    private final Map<String, Long> printedSampleStep = new HashMap<>();
    private final Map<String, Long> printedSpikeStep = new HashMap<>();
    private long printedDeadLetters;
    private ScheduledExecutorService scheduler;

    public ConsoleView(RunStore store, PrintStream out, boolean ansi) {
        this.store = store;
        this.out = out;
        this.ansi = ansi;
    }

    /** True when standard output is an interactive terminal (then redraw in place). */
    public static boolean isTerminal() {
        return System.console() != null && System.getenv("TERM") != null && !"dumb".equals(System.getenv("TERM"));
    }

    /** Refreshes every {@code interval} on a daemon thread until closed. */
    public synchronized void start(Duration interval) {
        scheduler = DaemonThreads.scheduler("streamtrain-monitor-console");
        scheduler.scheduleWithFixedDelay(this::refresh, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Draws once: the whole table on a terminal, the new lines otherwise. */
    public synchronized void refresh() {
        if (ansi) {
            out.print(CLEAR_SCREEN + render());
        } else {
            newLines().forEach(out::println);
        }
        out.flush();
    }

    /** The whole table as text. */
    public String render() {
        StringBuilder text = new StringBuilder();
        List<TrainingMetrics> spikes = store.allMetrics().stream().filter(m -> m.getSpike() != null).toList();
        text.append(String.format("streamtrain monitor  %s  runs %d  dead letters %d%s  spikes %d  %s%n",
            LocalTime.now().truncatedTo(ChronoUnit.SECONDS), store.runIds().size(), store.deadLetterCount(),
            store.undecodableCount() == 0 ? "" : "  undecodable " + store.undecodableCount(), spikes.size(), lagText()));
        text.append(String.format(ROW, "run", "step", "loss", "loss EMA", "perplexity", "acc", "tokens/s", "lr", "grad norm"));
        TextSample latestSample = null;
        for (String runId : store.runIds()) {
            List<TrainingMetrics> metrics = store.metrics(runId);
            if (!metrics.isEmpty()) {
                TrainingMetrics last = metrics.get(metrics.size() - 1);
                text.append(String.format(ROW, clip(runId, 22), last.getStep(), fixed(last.getLoss(), 4), fixed(smoothedLoss(metrics), 4),
                    fixed(last.getPerplexity(), 2), fixed(last.getAccuracy(), 3), fixed(last.getTokensPerSecond(), 0),
                    String.format("%.2e", last.getLearningRate()), fixed(last.getGradientNorm(), 3)));
                String ranks = dataParallel(last);
                if (!ranks.isEmpty()) {
                    text.append(String.format("%-22s %s%n", "", ranks.substring(" | ".length())));
                }
            }
            List<TextSample> samples = store.samples(runId);
            if (!samples.isEmpty()) {
                TextSample sample = samples.get(samples.size() - 1);
                if (latestSample == null || sample.getTime().isAfter(latestSample.getTime())) {
                    latestSample = sample;
                }
            }
        }
        spikes.stream().max(java.util.Comparator.comparing(TrainingMetrics::getTime)).ifPresent(spike -> text.append(
            String.format("latest spike: run %s, step %d: %s%n", spike.getRunId(), spike.getStep(), spike.getSpike())));
        if (latestSample != null) {
            text.append(String.format("latest sample: run %s, step %d%n  prompt:    %s%n  generated: %s%n  actual:    %s%n",
                latestSample.getRunId(), latestSample.getStep(), oneLine(latestSample.getPrompt()),
                oneLine(latestSample.getGenerated()), oneLine(latestSample.getActual())));
        }
        return text.toString();
    }

    /** Plain lines for what is new since the last call. */
    List<String> newLines() {
        List<String> lines = new ArrayList<>();
        for (String runId : store.runIds()) {
            List<TrainingMetrics> metrics = store.metrics(runId);
            if (!metrics.isEmpty()) {
                TrainingMetrics last = metrics.get(metrics.size() - 1);
                if (!Long.valueOf(last.getStep()).equals(printedStep.put(runId, last.getStep()))) {
                    lines.add(String.format("%s step %d  loss %s (EMA %s)  ppl %s  acc %s  tokens/s %s  lr %.2e  grad norm %s%s",
                        runId, last.getStep(), fixed(last.getLoss(), 4), fixed(smoothedLoss(metrics), 4),
                        fixed(last.getPerplexity(), 2), fixed(last.getAccuracy(), 3), fixed(last.getTokensPerSecond(), 0),
                        last.getLearningRate(), fixed(last.getGradientNorm(), 3), dataParallel(last)));
                }
            }
            long spikesPrinted = printedSpikeStep.getOrDefault(runId, 0L);
            for (TrainingMetrics m : metrics) {
                if (m.getSpike() != null && m.getStep() > spikesPrinted) {
                    lines.add(String.format("%s step %d spike: %s", runId, m.getStep(), m.getSpike()));
                    printedSpikeStep.put(runId, m.getStep());
                }
            }
            List<TextSample> samples = store.samples(runId);
            if (!samples.isEmpty()) {
                TextSample sample = samples.get(samples.size() - 1);
                if (!Long.valueOf(sample.getStep()).equals(printedSampleStep.put(runId, sample.getStep()))) {
                    lines.add(String.format("%s step %d sample: %s|%s", runId, sample.getStep(), oneLine(sample.getPrompt()),
                        oneLine(sample.getGenerated())));
                }
            }
        }
        long deadLetters = store.deadLetterCount();
        if (deadLetters != printedDeadLetters) {
            printedDeadLetters = deadLetters;
            lines.add("dead letters: " + deadLetters);
        }
        return lines;
    }

    private String lagText() {
        return store.consumerLag().map(lag -> lag.measured()
            ? "lag " + lag.totalLag() + " (group " + lag.groupId() + ")"
            : "lag ? (" + lag.problem() + ")").orElse("");
    }

    /**
     * A data-parallel step's ranks, global rows, tokens/s per rank and all-reduce time, as
     * {@code " | 2 ranks, 8 rows, 1200 tokens/s per rank, all-reduce 1.3 ms"}; empty for a step of one model.
     */
    static String dataParallel(TrainingMetrics m) {
        if (m.getRanks() == null || m.getRanks() < 2) {
            return "";
        }
        return " | " + m.getRanks() + " ranks, " + m.getGlobalRows() + " rows, " + fixed(m.getTokensPerSecond() / m.getRanks(), 0)
            + " tokens/s per rank" + (m.getAllReduceMillis() == null ? "" : ", all-reduce " + fixed(m.getAllReduceMillis(), 1) + " ms");
    }

    private static double smoothedLoss(List<TrainingMetrics> metrics) {
        double[] losses = new double[metrics.size()];
        for (int i = 0; i < losses.length; i++) {
            losses[i] = metrics.get(i).getLoss();
        }
        double[] smoothed = Smoothing.ema(losses, Smoothing.EMA_WEIGHT);
        return smoothed[smoothed.length - 1];
    }

    private static String fixed(double value, int decimals) {
        return Double.isFinite(value) ? String.format("%." + decimals + "f", value) : String.valueOf(value);
    }

    private static String oneLine(String text) {
        return clip(text.replace("\r", "").replace("\n", "⏎").replace("\t", " "), TEXT_WIDTH);
    }

    private static String clip(String text, int width) {
        return text.length() <= width ? text : text.substring(0, width - 1) + "…";
    }

    @Override
    public synchronized void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
        }
    }
}
