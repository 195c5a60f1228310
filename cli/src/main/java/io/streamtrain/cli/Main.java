package io.streamtrain.cli;

import io.streamtrain.cli.bench.BenchCommand;
import io.streamtrain.cli.broker.BrokerCommand;
import io.streamtrain.cli.commands.CheckpointCommand;
import io.streamtrain.cli.commands.ExportCommand;
import io.streamtrain.cli.commands.GenerateCommand;
import io.streamtrain.cli.commands.MonitorCommand;
import io.streamtrain.cli.commands.ProduceCommand;
import io.streamtrain.cli.commands.ReplayCommand;
import io.streamtrain.cli.commands.TokenizerCommand;
import io.streamtrain.cli.commands.TrainCommand;
import io.streamtrain.cli.demo.DemoCommand;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.support.ErrorHandler;
import io.streamtrain.cli.support.Logging;
import io.streamtrain.cli.support.UsageErrorHandler;
import io.streamtrain.cli.support.VersionProvider;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Arrays;
import java.util.Map;

/**
 * {@code streamtrain}: train a GPT continuously from Kafka. Exit codes: 0 success, 1 a fatal error (one line saying
 * what to do; the stack trace with {@code --verbose}), 2 a usage error (picocli's message and the usage help).
 */
@Command(name = "streamtrain",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = {
                "Train a GPT continuously from Kafka: documents -> token batches -> trainer -> metrics and samples.",
                "",
                "Start with `streamtrain demo`: an embedded Kafka broker, the sample corpus and a tiny model."},
        subcommands = {
                DemoCommand.class,
                ProduceCommand.class,
                TrainCommand.class,
                MonitorCommand.class,
                BrokerCommand.class,
                ReplayCommand.class,
                CheckpointCommand.class,
                GenerateCommand.class,
                ExportCommand.class,
                TokenizerCommand.class,
                BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable, CommandSettings.Environment {
    private final Map<String, String> environment;

    @Spec
    private CommandSpec spec;

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Print stack traces of errors and Kafka's warnings and info logs.")
    private boolean verbose;

    /** Runs the command and exits the JVM with its exit code. */
    public static void main(String[] args) {
        int exitCode;
        try {
            exitCode = execute(args);
        } catch (Throwable e) {
            // An Error escaped a command (picocli handles Exceptions only): report it and still exit, so that no
            // non-daemon thread (the embedded broker, Kafka clients) keeps the JVM alive.
            System.err.println("streamtrain: internal error: " + e);
            e.printStackTrace();
            exitCode = 1;
        }
        System.exit(exitCode);
    }

    /** Runs the command in this JVM and returns its exit code (for tests and embedding). */
    public static int execute(String... args) {
        return execute(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs the command with its output and error text going to {@code out} and {@code err}. */
    public static int execute(PrintWriter out, PrintWriter err, String... args) {
        return execute(System.getenv(), out, err, args);
    }

    /** Runs the command with {@code environment} as its {@code STREAMTRAIN_*} variables (for tests). */
    public static int execute(Map<String, String> environment, PrintWriter out, PrintWriter err, String... args) {
        boolean verbose = Arrays.asList(args).contains("--verbose");
        Logging.configure(verbose);
        CommandLine commandLine = commandLine(environment);
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setExecutionExceptionHandler(new ErrorHandler(verbose));
        commandLine.setParameterExceptionHandler(new UsageErrorHandler());
        return commandLine.execute(args);
    }

    /** The command tree, for help and completion. */
    public static CommandLine commandLine() {
        return commandLine(System.getenv());
    }

    /** The command tree reading settings from {@code environment} instead of the process's. */
    public static CommandLine commandLine(Map<String, String> environment) {
        return new CommandLine(new Main(environment))
                .setCaseInsensitiveEnumValuesAllowed(true)
                .setUsageHelpAutoWidth(true);
    }

    private Main(Map<String, String> environment) {
        this.environment = Map.copyOf(environment);
    }

    @Override
    public Map<String, String> environment() {
        return environment;
    }

    @Override
    public void run() {
        // `streamtrain` alone: say what there is to do.
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
