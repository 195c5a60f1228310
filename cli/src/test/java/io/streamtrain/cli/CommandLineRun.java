package io.streamtrain.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;
import java.util.List;

/** One in-process run of {@code streamtrain}: its exit code and what it printed on standard output and error. */
record CommandLineRun(int exitCode, String out, String err) {

    static CommandLineRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = Main.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CommandLineRun(exitCode, out.toString(), err.toString());
    }

    List<String> outLines() {
        return Arrays.asList(out.split("\\R"));
    }

    /** For assertion messages: everything the run printed. */
    String transcript() {
        return "exit code " + exitCode + "\n--- out ---\n" + out + "\n--- err ---\n" + err;
    }
}
