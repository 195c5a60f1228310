package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.evaluated;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.monitor.internal.ChartWriter;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChartWriterTest {
    @TempDir
    Path directory;

    @Test
    void shouldWriteEveryChartAsAPngOfTheRequestedSizeWhenRunsHavePoints() throws Exception {
        Path directory = Path.of("target", "chart-writer-test"); // kept for a look after the build
        RunStore store = new RunStore();
        for (long step = 1; step <= 40; step++) {
            store.putMetrics(step % 10 == 0 ? evaluated(metrics("run-a", step), 3.5 - step * 0.01) : metrics("run-a", step));
            store.putMetrics(metrics("run-b", step, 4.0 - step * 0.01));
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
