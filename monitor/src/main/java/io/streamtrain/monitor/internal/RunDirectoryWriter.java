package io.streamtrain.monitor.internal;

import io.streamtrain.monitor.RunFiles;
import io.streamtrain.monitor.RunStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps a run directory current: {@link RunFiles}' JSON files at most once a second after a change, and the PNG charts
 * (under {@code charts/}) whenever the latest step passes a multiple of {@code pngEverySteps}; both once more on close.
 */
public final class RunDirectoryWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RunDirectoryWriter.class);
    public static final String CHARTS = "charts";

    private final Path runDirectory;
    private final RunStore store;
    private final int pngEverySteps;
    private final int pngWidth;
    private final int pngHeight;
    private final ScheduledExecutorService scheduler = DaemonThreads.scheduler("streamtrain-monitor-files");
    private long writtenVersion;
    private long chartedInterval;
    private boolean reportedFailure;
    private boolean chartsUnavailable;

    public RunDirectoryWriter(Path runDirectory, RunStore store, int pngEverySteps, int pngWidth, int pngHeight) {
        this.runDirectory = runDirectory;
        this.store = store;
        this.pngEverySteps = pngEverySteps;
        this.pngWidth = pngWidth;
        this.pngHeight = pngHeight;
    }

    public void start() {
        scheduler.scheduleWithFixedDelay(() -> writeIfChanged(false), 1, 1, TimeUnit.SECONDS);
    }

    private synchronized void writeIfChanged(boolean finalWrite) {
        try {
            long version = store.version();
            if (version != writtenVersion) {
                RunFiles.write(runDirectory, store);
                writtenVersion = version;
            }
            long interval = pngEverySteps == 0 ? 0 : store.latestStep() / pngEverySteps;
            if (!chartsUnavailable && (interval > chartedInterval || finalWrite && !store.runIds().isEmpty())) {
                writeCharts();
                chartedInterval = interval;
            }
        } catch (IOException | RuntimeException e) {
            if (!reportedFailure) {
                log.warn("Cannot write the monitor's files in {}: {} (the dashboard goes on; check the directory)",
                    runDirectory.toAbsolutePath(), e.toString());
                reportedFailure = true;
            }
        }
    }

    /**
     * Draws the PNG charts. A JVM whose font support cannot load (a headless machine without fontconfig or
     * HarfBuzz: AWT then fails with a LinkageError) gets no charts, one warning, and everything else goes on.
     */
    private void writeCharts() throws IOException {
        try {
            ChartWriter.write(runDirectory.resolve(CHARTS), store, pngWidth, pngHeight);
        } catch (LinkageError e) {
            chartsUnavailable = true;
            log.warn("PNG charts are off: Java cannot load its font support on this machine ({}); install fontconfig "
                + "and HarfBuzz (Debian: apt-get install fontconfig libharfbuzz0b) to get them. The dashboard and the "
                + "JSON files go on.", e.toString());
        }
    }

    /** Stops the schedule and writes the files and charts one last time. */
    @Override
    public void close() throws InterruptedException {
        scheduler.shutdownNow();
        scheduler.awaitTermination(10, TimeUnit.SECONDS);
        writeIfChanged(true);
    }
}
