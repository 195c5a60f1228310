package io.streamtrain.cli.support;

import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.ParseResult;

import java.io.PrintWriter;

/**
 * Turns an exception thrown by a command into one line on standard error and exit code 1. The messages of our
 * modules already say what and where; the stack trace is printed only with {@code --verbose}.
 */
public final class ErrorHandler implements IExecutionExceptionHandler {
    public static final int FATAL = 1;

    private final boolean verbose;

    public ErrorHandler(boolean verbose) {
        this.verbose = verbose;
    }

    @Override
    public int handleExecutionException(Exception exception, CommandLine commandLine, ParseResult parseResult) {
        PrintWriter err = commandLine.getErr();
        if (verbose) {
            exception.printStackTrace(err);
        }
        err.println(commandLine.getColorScheme().errorText(
                commandLine.getCommandSpec().qualifiedName() + ": error: " + describe(exception)));
        if (!verbose) {
            err.println("(run again with --verbose for the stack trace)");
        }
        err.flush();
        return FATAL;
    }

    /** The message of a {@link CliException}; else each distinct message of the cause chain, outermost first. */
    public static String describe(Throwable exception) {
        if (exception instanceof CliException) {
            return exception.getMessage();
        }
        StringBuilder text = new StringBuilder();
        for (Throwable t = exception; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String message = t.getMessage();
            if (message == null || message.isBlank() || text.indexOf(message) >= 0) {
                continue;
            }
            if (text.length() > 0) {
                text.append(": ");
            }
            text.append(message);
        }
        return text.length() > 0 ? text.toString() : exception.getClass().getName();
    }
}
