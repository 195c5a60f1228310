package io.streamtrain.cli.commands;

import io.streamtrain.cli.Main;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ResolvedSettings;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

import java.util.List;
import java.util.Map;

/** The settings a command resolves from a command line and an environment, as its {@code call()} does. */
final class CommandLineSettings {
    private CommandLineSettings() {}

    /** Parses {@code streamtrain COMMAND ARGS} and resolves the command's settings in {@code environment}. */
    static ResolvedSettings resolve(Map<String, String> environment, String command, String... args) {
        CommandLine commandLine = Main.commandLine(environment);
        String[] words = java.util.stream.Stream.concat(List.of(command).stream(), List.of(args).stream())
                .toArray(String[]::new);
        CommandSpec spec = commandLine.parseArgs(words).subcommand().commandSpec();
        return ((CommandSettings.Configurable) spec.userObject()).settings().resolve(spec);
    }
}
