package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.dataParallel;
import static io.streamtrain.monitor.TrainingRecords.evaluated;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.monitor.internal.ChartWriter;
import io.streamtrain.schemas.TrainingMetrics;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;

class ChartWriterTest {
    @TempDir
    Path directory;

    @Test
    void shouldWriteEveryChartAsAPngOfTheRequestedSizeWhenRunsHavePoints() throws Exception {
        Path directory = Path.of("target", "chart-writer-test"); // kept for a look after the build
        RunStore store = new RunStore();
        for (long step = 1; step <= 40; step++) {
            store.putMetrics(step % 10 == 0 ? evaluated(metrics("run-a", step), 3.5 - step * 0.01) : metrics("run-a", step));
            store.putMetrics(dataParallel(metrics("run-b", step, 4.0 - step * 0.01), 2, 8, 1.0 + step * 0.05));
        }
        List<Path> written = ChartWriter.write(directory, store, 640, 360);
        assertEquals(ChartWriter.Chart.values().length, written.size());
        for (ChartWriter.Chart chart : ChartWriter.Chart.values()) {
            BufferedImage image = ImageIO.read(directory.resolve(chart.fileName).toFile());
            assertNotNull(image, chart.fileName + " decodes as an image");
            assertEquals(640, image.getWidth(), chart.fileName);
            assertEquals(360, image.getHeight(), chart.fileName);
            assertTrue(distinctColours(image) > 3, chart.fileName + " has something drawn on it");
        }
    }

    @Test
    void shouldDrawTheGradientNormOnALogScaleSoThatOneSpikeDoesNotFlattenTheRest() {
        RunStore store = new RunStore();
        for (long step = 1; step <= 40; step++) {
            TrainingMetrics m = metrics("run-a", step);
            store.putMetrics(step == 23 ? TrainingMetrics.newBuilder(m).setGradientNorm(270).setSpike("gradient norm 270.0 is"
                + " 200.0x its recent average 1.35").build() : m);
        }
        XYChart chart = ChartWriter.draw(ChartWriter.Chart.GRADIENT_NORM, store, 640, 360);
        assertTrue(chart.getStyler().isYAxisLogarithmic(), "norms of 1 beside a spike of 270 stay apart on a log scale");
        assertEquals(270, chart.getSeriesMap().get("run-a").getYMax(), 0, "the spike itself is drawn");
        XYSeries spikes = chart.getSeriesMap().get("run-a (spikes)");
        assertEquals(23, spikes.getXMin(), 0, "the reported spike is marked");
        assertEquals(23, spikes.getXMax(), 0);
    }

    @Test
    void shouldDrawLossAgainstTheSecondsSinceEachRunsFirstStepSoThatTheFasterRunLiesToTheLeft() {
        RunStore store = new RunStore();
        for (long step = 1; step <= 10; step++) {
            store.putMetrics(metrics("slow", step)); // a step every 250 ms
            TrainingMetrics fast = metrics("fast", step);
            store.putMetrics(TrainingMetrics.newBuilder(fast).setTime(TrainingRecords.START.plusSeconds(3600).plusMillis(step * 25))
                .build()); // an hour later, a step every 25 ms
        }
        XYChart chart = ChartWriter.draw(ChartWriter.Chart.LOSS_VS_TIME, store, 640, 360);
        XYSeries slow = chart.getSeriesMap().get("slow");
        XYSeries fast = chart.getSeriesMap().get("fast");
        assertEquals(0, slow.getXMin(), 1e-9);
        assertEquals(9 * 0.25, slow.getXMax(), 1e-9, "seconds from the run's first step to its last");
        assertEquals(0, fast.getXMin(), 1e-9, "each run starts at 0, whenever it ran");
        assertEquals(9 * 0.025, fast.getXMax(), 1e-9);
        assertEquals("seconds since the run's first step", chart.getXAxisTitle());
    }

    @Test
    void shouldDrawThroughputPerRankAndAllReduceTimeOnlyForStepsOfMoreThanOneRank() throws Exception {
        RunStore store = new RunStore();
        for (long step = 1; step <= 10; step++) {
            store.putMetrics(metrics("one-model", step));
            store.putMetrics(dataParallel(metrics("two-ranks", step), 2, 8, 1.0 + step));
        }
        XYChart perRank = ChartWriter.draw(ChartWriter.Chart.TOKENS_PER_S_PER_RANK, store, 640, 360);
        assertEquals(java.util.Set.of("two-ranks"), perRank.getSeriesMap().keySet(), "one model has no per-rank throughput");
        assertEquals(metrics("two-ranks", 10).getTokensPerSecond() / 2, perRank.getSeriesMap().get("two-ranks").getYMax(), 1e-9,
            "the step's tokens/s over its ranks");
        XYChart allReduce = ChartWriter.draw(ChartWriter.Chart.ALL_REDUCE_TIME, store, 640, 360);
        assertEquals(java.util.Set.of("two-ranks"), allReduce.getSeriesMap().keySet());
        assertEquals(11.0, allReduce.getSeriesMap().get("two-ranks").getYMax(), 0);

        RunStore oneModel = new RunStore();
        oneModel.putMetrics(metrics("one-model", 1));
        List<Path> written = ChartWriter.write(directory, oneModel, 640, 360);
        assertTrue(written.stream().noneMatch(file -> file.endsWith(ChartWriter.Chart.ALL_REDUCE_TIME.fileName)
            || file.endsWith(ChartWriter.Chart.TOKENS_PER_S_PER_RANK.fileName)), "no empty rank charts for one model: " + written);
    }

    @Test
    void shouldWriteNoChartWhenThereIsNoPoint() throws Exception {
        assertTrue(ChartWriter.write(directory, new RunStore(), 640, 360).isEmpty());
    }

    private static long distinctColours(BufferedImage image) {
        java.util.Set<Integer> colours = new java.util.HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 7) {
            for (int x = 0; x < image.getWidth(); x += 7) {
                colours.add(image.getRGB(x, y));
            }
        }
        return colours.size();
    }
}
