package io.streamtrain.monitor;

import io.streamtrain.monitor.internal.ConsumerLagPoller;
import io.streamtrain.monitor.internal.DashboardServer;
import io.streamtrain.monitor.internal.RunDirectoryWriter;
import io.streamtrain.monitor.internal.TopicFollower;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Topic-based monitoring of training, started in one call and stopped by {@link #close()}:
 * <pre>{@code
 * try (Monitor monitor = Monitor.start(new MonitorConfig(Map.of(
 *         MonitorConfig.BOOTSTRAP_SERVERS, "localhost:9092",
 *         MonitorConfig.HTTP_PORT, 0,                                    // any free port
 *         MonitorConfig.RUN_DIRECTORY, "runs/demo",                      // optional: JSON files and charts/*.png
 *         MonitorConfig.TRAINER_APPLICATION_ID, "streamtrain-trainer",   // optional: consumer lag
 *         MonitorConfig.CONSOLE, true)))) {                              // optional: table on standard output
 *     System.out.println("Dashboard: " + monitor.url());
 *     ...
 * }
 * }</pre>
 * It reads the metrics, samples and dead-letter topics (from the beginning, or from {@link MonitorConfig#START_TIME})
 * into a {@link RunStore}, serves the live dashboard at {@link #url()} (page, {@code /api/snapshot} JSON, {@code /api/events}
 * Server-Sent Events), measures the trainer's consumer lag, shows the {@link ConsoleView} and keeps the run directory's
 * {@link RunFiles} and PNG charts current, as configured. Nothing is committed to Kafka: any number of monitors may run.
 */
public final class Monitor implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Monitor.class);

    private final RunStore store;
    private final List<AutoCloseable> parts;
    private final DashboardServer dashboard;
    private final TopicFollower follower;

    private Monitor(RunStore store, List<AutoCloseable> parts, DashboardServer dashboard, TopicFollower follower) {
        this.store = store;
        this.parts = parts;
        this.dashboard = dashboard;
        this.follower = follower;
    }

    /** Starts with the console view, when configured, on {@code System.out}. */
    public static Monitor start(MonitorConfig config) throws IOException {
        return start(config, System.out);
    }

    /** Shorthand for {@code start(new MonitorConfig(properties))}. */
    public static Monitor start(Map<String, ?> properties) throws IOException {
        return start(new MonitorConfig(properties));
    }

    /**
     * Starts every part; returns once the dashboard listens (the records arrive in the background).
     * @param console where the console view draws when {@link MonitorConfig#CONSOLE} is set (redrawn in place only on a terminal)
     * @throws IOException when the dashboard's port cannot be bound (the message says which)
     */
    public static Monitor start(MonitorConfig config, PrintStream console) throws IOException {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true"); // PNG charts on a server without a display
        }
        RunStore store = RunStore.of(config);
        List<AutoCloseable> parts = new ArrayList<>();
        try {
            DashboardServer dashboard = DashboardServer.start(config.httpHost(), config.httpPort(), config.httpAccess(), store);
            parts.add(dashboard);
            TopicFollower follower = new TopicFollower(config.kafkaClients(), config.metricsTopic(), config.samplesTopic(),
                config.deadLettersTopic(), config.startTime().orElse(null), store);
            parts.add(follower);
            follower.start();
            if (config.trainerApplicationId().isPresent()) {
                ConsumerLagPoller lag = new ConsumerLagPoller(config.kafkaClients(), config.trainerApplicationId().get(), store);
                parts.add(lag);
                lag.start(config.lagPollIntervalMillis());
            }
            if (config.runDirectory().isPresent()) {
                RunDirectoryWriter files = new RunDirectoryWriter(config.runDirectory().get(), store, config.pngEverySteps(),
                    config.pngWidth(), config.pngHeight());
                parts.add(files);
                files.start();
            }
            if (config.console()) {
                ConsoleView view = new ConsoleView(store, console, console == System.out && ConsoleView.isTerminal());
                parts.add(view);
                view.start(Duration.ofMillis(config.consoleRefreshMillis()));
            }
            log.info("Monitoring {} at {}", config.bootstrapServers(), dashboard.url());
            return new Monitor(store, parts, dashboard, follower);
        } catch (IOException | RuntimeException e) {
            closeAll(parts);
            throw e;
        }
    }

    /** The dashboard's address, e.g. {@code http://127.0.0.1:8080/}. */
    public URI url() {
        return dashboard.url();
    }

    /**
     * Why the monitor stopped reading the topics, if it did: e.g. the cluster rejected its credentials (found at the
     * first request, within seconds). An unreachable broker is no failure: the monitor keeps trying.
     */
    public Optional<Throwable> failure() {
        return Optional.ofNullable(follower.failure());
    }

    /** What the monitor has read so far (live; thread-safe). */
    public RunStore store() {
        return store;
    }

    /** Stops reading, serving and drawing; the run directory's files and charts are written one last time. */
    @Override
    public void close() {
        closeAll(parts);
    }

    /** Closes in reverse order of starting, so that the files are written last, after the last records. */
    private static void closeAll(List<AutoCloseable> parts) {
        for (int i = parts.size() - 1; i >= 0; i--) {
            try {
                parts.get(i).close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (Exception e) {
                log.warn("Closing {} of the monitor failed: {}", parts.get(i).getClass().getSimpleName(), e.toString());
            }
        }
    }
}
