package io.streamtrain.cli.options;

import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Data-parallel replicas in one process, shared by {@code train} and {@code bench}: {@code --replicas}. */
public final class ReplicaOptions {
    @Option(names = "--replicas", paramLabel = "N",
            description = "Train N model replicas data-parallel in this process: GPUs 0..N-1 (gradients all-reduced by "
                    + "NCCL, found as README says) or, with --backend cpu, N CPU workers sharing --threads (gradients "
                    + "summed in a fixed order). Default: one model.")
    public Integer replicas;

    /** A usage error (exit code 2) naming the flag. */
    public void validate(CommandLine commandLine) {
        if (replicas != null && (replicas < 1 || replicas > 64)) {
            throw new ParameterException(commandLine, "--replicas must be in [1, 64], got " + replicas);
        }
    }
}
