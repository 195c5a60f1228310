package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.KafkaOptions;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.monitor.Monitor;
import io.streamtrain.monitor.MonitorConfig;
import io.streamtrain.schemas.KafkaClientSettings;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code streamtrain monitor}: the live dashboard (and console view, files, charts) from the metrics and samples topics. */
@Command(name = "monitor", mixinStandardHelpOptions = true,
        description = {
                "Watch training from the metrics and samples topics: a live web dashboard, until Ctrl-C.",
                "",
                "Reads the topics from the beginning (or --from), keeps the last record per run and step, and shows each "
                        + "run as its own series. Nothing is committed to Kafka: any number of monitors may run."})
public final class MonitorCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private KafkaOptions kafka;

    @Option(names = "--port", defaultValue = "8080", paramLabel = "PORT",
            description = "Port of the dashboard; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    private int port;

    @Option(names = "--host", defaultValue = "127.0.0.1", paramLabel = "ADDRESS",
            description = "Address to listen on; 0.0.0.0 to reach it from other machines (default: ${DEFAULT-VALUE}).")
    private String host;

    @Option(names = "--run", paramLabel = "ID", description = "Show only this run id (default: every run).")
    private String runId;

    @Option(names = "--from", paramLabel = "TIME", description = "Read the topics from this ISO-8601 time, e.g. 2026-11-20T21:00:00Z.")
    private String startTime;

    @Option(names = "--run-dir", paramLabel = "DIR",
            description = "Keep metrics_history.json, text_samples.json and charts/*.png current in this directory.")
    private Path runDirectory;

    @Option(names = "--trainer-application-id", paramLabel = "ID",
            description = "Application id of the trainer, to show its consumer lag (e.g. streamtrain-trainer).")
    private String trainerApplicationId;

    @Option(names = "--console", description = "Also show the live view as a table on this terminal.")
    private boolean console;

    @Override
    public Integer call() throws Exception {
        Map<String, Object> properties = new HashMap<>();
        properties.put(MonitorConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers);
        properties.put(KafkaClientSettings.COMMAND_CONFIG, kafka.commandConfigValue());
        properties.put(MonitorConfig.HTTP_PORT, port);
        properties.put(MonitorConfig.HTTP_HOST, host);
        properties.put(MonitorConfig.CONSOLE, console);
        if (runId != null) {
            properties.put(MonitorConfig.RUN_ID, runId);
        }
        if (startTime != null) {
            properties.put(MonitorConfig.START_TIME, startTime);
        }
        if (runDirectory != null) {
            properties.put(MonitorConfig.RUN_DIRECTORY, runDirectory.toString());
        }
        if (trainerApplicationId != null) {
            properties.put(MonitorConfig.TRAINER_APPLICATION_ID, trainerApplicationId);
        }
        MonitorConfig config;
        try {
            config = new MonitorConfig(properties);
        } catch (ConfigException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        PrintWriter out = spec.commandLine().getOut();
        Monitor monitor = Monitor.start(config, WriterOutputStream.printStream(out, ""));
        CountDownLatch stopped = new CountDownLatch(1);
        Thread stopOnCtrlC = new Thread(() -> {
            monitor.close();
            stopped.countDown();
        }, "streamtrain-monitor-stop");
        Runtime.getRuntime().addShutdownHook(stopOnCtrlC);
        out.println("dashboard: " + monitor.url() + " (reading " + kafka.bootstrapServers + "; Ctrl-C stops)");
        out.flush();
        // Until Ctrl-C, or until the monitor cannot read the topics at all (e.g. the cluster rejects its credentials).
        while (!stopped.await(200, TimeUnit.MILLISECONDS)) {
            Optional<Throwable> failure = monitor.failure();
            if (failure.isPresent()) {
                ShutdownHooks.remove(stopOnCtrlC);
                monitor.close();
                throw new CliException(failure.get().getMessage(), failure.get());
            }
        }
        return 0;
    }
}
