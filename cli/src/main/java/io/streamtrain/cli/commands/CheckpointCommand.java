package io.streamtrain.cli.commands;

import io.streamtrain.cli.support.CliException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.trainer.replay.CheckpointSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code streamtrain checkpoint}: checkpoint tools; {@code checkpoint show PATH} prints one as JSON. */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = "Checkpoint tools: `checkpoint show PATH` prints what a checkpoint holds.",
        subcommands = CheckpointCommand.Show.class)
public final class CheckpointCommand implements Runnable {
    @Spec
    private CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand: use `streamtrain checkpoint show --help`");
    }

    /** {@code streamtrain checkpoint show PATH}. */
    @Command(name = "show", mixinStandardHelpOptions = true,
            description = {
                    "Print a checkpoint as one JSON object: step, tokens and batches trained, the last handled offset of "
                            + "every input partition, tokenizer, model config, creation time, run id and other metadata.",
                    "",
                    "The whole file is read and its checksum verified: a damaged file is an error naming what is wrong."})
    public static final class Show implements Callable<Integer> {
        private static final ObjectMapper JSON = new ObjectMapper();

        @Spec
        private CommandSpec spec;

        @Parameters(paramLabel = "PATH", description = "A checkpoint file (step-<step>.safetensors).")
        private Path path;

        @Override
        public Integer call() throws Exception {
            if (!Files.isRegularFile(path)) {
                throw new CliException("checkpoint " + path.toAbsolutePath() + " is not a file; checkpoints are "
                        + "in <run dir>/checkpoints, named step-<step>.safetensors");
            }
            spec.commandLine().getOut().println(JSON.writeValueAsString(CheckpointSummary.read(path).toJsonFields()));
            spec.commandLine().getOut().flush();
            return 0;
        }
    }
}
