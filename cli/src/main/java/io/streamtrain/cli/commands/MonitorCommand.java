package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.monitor.Monitor;
import io.streamtrain.monitor.MonitorConfig;
import io.streamtrain.schemas.HttpAccess;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** {@code streamtrain monitor}: the live dashboard (and console view, files, charts) from the metrics and samples topics. */
@Command(name = "monitor", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Watch training from the metrics and samples topics: a live web dashboard, until Ctrl-C.",
                "",
                "Reads the topics from the beginning (or --from), keeps the last record per run and step, and shows each "
                        + "run as its own series. Nothing is committed to Kafka: any number of monitors may run."})
public final class MonitorCommand extends ConfiguredCommand {
    static final CommandSettings SETTINGS = CommandSettings.of(MonitorConfig.CONFIG)
            .with(SharedFlags::kafka)
            .flag("--port", MonitorConfig.HTTP_PORT, "PORT")
            .flag("--host", MonitorConfig.HTTP_HOST, "ADDRESS")
            .switchFlag("--allow-unauthenticated", HttpAccess.ALLOW_UNAUTHENTICATED, true)
            .flag("--run", MonitorConfig.RUN_ID, "ID")
            .flag("--from", MonitorConfig.START_TIME, "TIME")
            .flag("--run-dir", MonitorConfig.RUN_DIRECTORY, "DIR")
            .flag("--trainer-application-id", MonitorConfig.TRAINER_APPLICATION_ID, "ID")
            .switchFlag("--console", MonitorConfig.CONSOLE, true);

    public MonitorCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        MonitorConfig config = settings.build(MonitorConfig::new);
        PrintWriter out = spec.commandLine().getOut();
        Monitor monitor = Monitor.start(config, WriterOutputStream.printStream(out, ""));
        CountDownLatch stopped = new CountDownLatch(1);
        Thread stopOnCtrlC = new Thread(() -> {
            monitor.close();
            stopped.countDown();
        }, "streamtrain-monitor-stop");
        Runtime.getRuntime().addShutdownHook(stopOnCtrlC);
        out.println("dashboard: " + monitor.url() + " (reading " + config.bootstrapServers() + "; Ctrl-C stops)");
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
