package io.streamtrain.cli.support;

import picocli.CommandLine;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.PrintWriter;

/**
 * A usage error: picocli's message, its suggestions for a mistyped option, and where to find the options; exit
 * code 2. The full usage help is not repeated: for commands with many options it would push the message off screen.
 */
public final class UsageErrorHandler implements IParameterExceptionHandler {
    public static final int USAGE = 2;

    @Override
    public int handleParseException(ParameterException exception, String[] args) {
        CommandLine commandLine = exception.getCommandLine();
        PrintWriter err = commandLine.getErr();
        String command = commandLine.getCommandSpec().qualifiedName();
        err.println(commandLine.getColorScheme().errorText(command + ": " + exception.getMessage()));
        if (!UnmatchedArgumentException.printSuggestions(exception, err)) {
            err.println("run `" + command + " --help` for the options");
        }
        err.flush();
        return USAGE;
    }
}
