package io.streamtrain.monitor.internal;

import io.streamtrain.monitor.RunStore;
import io.streamtrain.schemas.TrainingMetrics;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * PNG charts of a {@link RunStore} with XChart, one series per run, the same charts as the dashboard. Files are replaced
 * atomically. Needs no display: sets {@code java.awt.headless=true} unless it was set.
 */
public final class ChartWriter {
    /**
     * The charts: file name, title, y axis, the value drawn (against the step, or against the seconds since the run's
     * first step).
     */
    public enum Chart {
        LOSS("loss.png", "Loss (thin: raw, thick: EMA-smoothed, dashed with circles: held-out)", "loss (nats)",
            TrainingMetrics::getLoss, false, false, TrainingMetrics::getEvalLoss),
        PERPLEXITY("perplexity.png", "Perplexity (dashed: held-out)", "perplexity (log)", TrainingMetrics::getPerplexity,
            true, false, TrainingMetrics::getEvalPerplexity),
        ACCURACY("accuracy.png", "Accuracy (dashed: held-out)", "accuracy", TrainingMetrics::getAccuracy, false, false,
            TrainingMetrics::getEvalAccuracy),
        TOKENS_PER_S("tokens_per_s.png", "Throughput", "tokens/s", TrainingMetrics::getTokensPerSecond, false, false),
        LEARNING_RATE("learning_rate.png", "Learning rate", "learning rate", TrainingMetrics::getLearningRate, false, false),
        /**
         * On a log scale: one spike (a norm of 270 among norms of 1) would flatten the rest into the axis. Steps the
         * trainer reported as spikes are red dots here and on the loss chart.
         */
        GRADIENT_NORM("gradient_norm.png", "Gradient norm (before clipping; log scale)", "gradient norm (log)",
            TrainingMetrics::getGradientNorm, true, false),
        /** Throughput as it matters: how soon a run reaches a loss (a faster backend's line lies to the left). */
        LOSS_VS_TIME("loss_vs_time.png", "Loss versus training time (faster steps reach a loss sooner)", "loss (nats)",
            TrainingMetrics::getLoss, false, true),
        /**
         * Data parallelism: the step's tokens/s over its ranks (what each rank contributed on average); only steps of
         * more than one rank, so the file exists only for such runs.
         */
        TOKENS_PER_S_PER_RANK("tokens_per_s_per_rank.png", "Throughput per rank (tokens/s over the ranks)",
            "tokens/s per rank", m -> isDataParallel(m) ? m.getTokensPerSecond() / m.getRanks() : Double.NaN, false, false),
        /**
         * Data parallelism: rank 0's host time in the gradient all-reduce, the wait for the other ranks included (none
         * where NCCL sums on the GPU stream: that time is part of the compute).
         */
        ALL_REDUCE_TIME("all_reduce_time.png", "Gradient all-reduce time (rank 0, the wait for the others included)",
            "all-reduce (ms)", m -> isDataParallel(m) && m.getAllReduceMillis() != null ? m.getAllReduceMillis() : Double.NaN,
            false, false);

        public final String fileName;
        final String title;
        final String yAxis;
        final ToDoubleFunction<TrainingMetrics> value;
        final boolean logarithmic;
        /** Drawn against the seconds since the run's first step instead of the step. */
        final boolean againstTime;
        /** The held-out figure drawn beside the value, or null. */
        final Function<TrainingMetrics, Double> heldOut;

        Chart(String fileName, String title, String yAxis, ToDoubleFunction<TrainingMetrics> value,
              boolean logarithmic, boolean againstTime) {
            this(fileName, title, yAxis, value, logarithmic, againstTime, null);
        }

        Chart(String fileName, String title, String yAxis, ToDoubleFunction<TrainingMetrics> value,
              boolean logarithmic, boolean againstTime, Function<TrainingMetrics, Double> heldOut) {
            this.heldOut = heldOut;
            this.fileName = fileName;
            this.title = title;
            this.yAxis = yAxis;
            this.value = value;
            this.logarithmic = logarithmic;
            this.againstTime = againstTime;
        }
    }

    /** Whether the step ran on more than one data-parallel rank (TrainingMetrics v3). */
    static boolean isDataParallel(TrainingMetrics m) {
        return m.getRanks() != null && m.getRanks() > 1;
    }

    /** The dashboard's palette (dashboard.js COLORS): run i has colour i, in first-seen order. */
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c), new Color(0xff7f0e),
        new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf), new Color(0xbcbd22), new Color(0x7f7f7f)};

    /** The dashboard's spike colour (dashboard.js SPIKE_COLOR). */
    private static final Color SPIKE_COLOR = new Color(0xb00020);

    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private ChartWriter() {}

    /**
     * Writes every chart that has a point into {@code directory}.
     * @return the files written
     */
    public static List<Path> write(Path directory, RunStore store, int width, int height) throws IOException {
        List<Path> written = new ArrayList<>();
        for (Chart chart : Chart.values()) {
            XYChart xyChart = draw(chart, store, width, height);
            if (xyChart.getSeriesMap().isEmpty()) {
                continue;
            }
            Path file = directory.resolve(chart.fileName);
            AtomicFiles.write(file, out -> BitmapEncoder.saveBitmap(xyChart, out, BitmapEncoder.BitmapFormat.PNG));
            written.add(file);
        }
        return written;
    }

    /** The chart of {@code store}'s runs, as {@link #write} saves it. */
    public static XYChart draw(Chart chart, RunStore store, int width, int height) {
        XYChart xyChart = new XYChartBuilder().width(width).height(height).title(chart.title)
            .xAxisTitle(chart.againstTime ? "seconds since the run's first step" : "step").yAxisTitle(chart.yAxis).build();
        xyChart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setMarkerSize(4).setAntiAlias(true);
        xyChart.getStyler().setYAxisLogarithmic(chart.logarithmic);
        xyChart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        List<String> runIds = store.runIds();
        for (int run = 0; run < runIds.size(); run++) {
            String runId = runIds.get(run);
            Color color = COLORS[run % COLORS.length];
            List<TrainingMetrics> metrics = store.metrics(runId);
            double[] x = new double[metrics.size()];
            double[] y = new double[metrics.size()];
            int n = 0;
            long firstMillis = metrics.isEmpty() ? 0 : metrics.get(0).getTime().toEpochMilli();
            for (TrainingMetrics m : metrics) {
                double xValue = chart.againstTime ? (m.getTime().toEpochMilli() - firstMillis) / 1000.0 : m.getStep();
                double yValue = chart.value.applyAsDouble(m);
                if (Double.isFinite(xValue) && Double.isFinite(yValue) && (!chart.logarithmic || yValue > 0)) {
                    x[n] = xValue;
                    y[n] = yValue;
                    n++;
                }
            }
            if (n == 0) {
                continue;
            }
            x = java.util.Arrays.copyOf(x, n);
            y = java.util.Arrays.copyOf(y, n);
            XYSeries series = xyChart.addSeries(runId, x, y);
            series.setLineColor(color);
            series.setMarkerColor(color);
            series.setMarker(SeriesMarkers.NONE);
            if (chart.againstTime) {
                continue;
            }
            if (chart.heldOut != null) {
                addHeldOut(xyChart, chart, runId, color, metrics);
            }
            if (chart == Chart.LOSS || chart == Chart.GRADIENT_NORM) {
                addSpikes(xyChart, chart, runId, metrics);
            }
            if (chart == Chart.LOSS) {
                series.setLineWidth(1f);
                series.setLineColor(new Color(color.getRed(), color.getGreen(), color.getBlue(), 110));
                XYSeries smoothed = xyChart.addSeries(runId + " (EMA)", x, Smoothing.ema(y, Smoothing.EMA_WEIGHT));
                smoothed.setMarker(SeriesMarkers.NONE);
                smoothed.setLineColor(color);
                smoothed.setLineWidth(2.5f);
            }
        }
        return xyChart;
    }

    /** The steps the trainer reported as spikes: red dots on the run's line. */
    private static void addSpikes(XYChart xyChart, Chart chart, String runId, List<TrainingMetrics> metrics) {
        List<Double> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        for (TrainingMetrics m : metrics) {
            double value = chart.value.applyAsDouble(m);
            if (m.getSpike() != null && Double.isFinite(value) && (!chart.logarithmic || value > 0)) {
                x.add((double) m.getStep());
                y.add(value);
            }
        }
        if (x.isEmpty()) {
            return;
        }
        XYSeries series = xyChart.addSeries(runId + " (spikes)", x, y);
        series.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        series.setMarker(SeriesMarkers.CIRCLE);
        series.setMarkerColor(SPIKE_COLOR);
    }

    /** The run's held-out evaluations: a dashed line through circles, at the evaluated steps. */
    private static void addHeldOut(XYChart xyChart, Chart chart, String runId, Color color, List<TrainingMetrics> metrics) {
        List<Double> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        for (TrainingMetrics m : metrics) {
            Double value = chart.heldOut.apply(m);
            if (value != null && Double.isFinite(value) && (!chart.logarithmic || value > 0)) {
                x.add((double) m.getStep());
                y.add(value);
            }
        }
        if (x.isEmpty()) {
            return;
        }
        XYSeries series = xyChart.addSeries(runId + " (held-out)", x, y);
        series.setLineColor(color);
        series.setMarkerColor(color);
        series.setMarker(SeriesMarkers.CIRCLE);
        series.setLineStyle(new java.awt.BasicStroke(2f, java.awt.BasicStroke.CAP_BUTT, java.awt.BasicStroke.JOIN_MITER,
            10f, new float[] {6f, 4f}, 0f));
    }
}
