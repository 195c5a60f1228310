package io.streamtrain.cli.options;

import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.util.List;

/** Where the model runs, shared by {@code demo}, {@code train} and {@code bench}: {@code --backend} and {@code --threads}. */
public final class BackendOptions {
    @Option(names = "--backend", defaultValue = "auto", paramLabel = "auto|cpu|cuda",
            description = "Where the model lives; auto picks CUDA when a usable device exists, else the CPU, and says why (default: ${DEFAULT-VALUE}).")
    public String backend;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "Threads of the CPU backend; 0 = every available processor (default: ${DEFAULT-VALUE}).")
    public int cpuThreads;

    /** A usage error (exit code 2) naming the flag. */
    public void validate(CommandLine commandLine) {
        if (!List.of("auto", "cpu", "cuda").contains(backend)) {
            throw new ParameterException(commandLine, "--backend must be auto, cpu or cuda, got '" + backend + "'");
        }
        if (cpuThreads < 0) {
            throw new ParameterException(commandLine, "--threads must be at least 0, got " + cpuThreads);
        }
    }
}
