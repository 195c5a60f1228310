package io.streamtrain.cli.options;

import io.streamtrain.model.GptConfig;
import io.streamtrain.trainer.TrainerConfig;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

import java.util.List;

/**
 * Options that producer and trainer must agree on, shared by {@code produce}, {@code train} and {@code demo}:
 * model preset, tokenizer, and the batch shape B x T (defaults from the preset, as the trainer resolves them).
 */
public final class PipelineOptions {
    public static final List<String> PRESETS = List.of("tiny", "small", "gpt2");

    @Option(names = "--model", defaultValue = "tiny", paramLabel = "tiny|small|gpt2",
            description = "Model preset: tiny (C=128, L=2), small (C=384, L=6) or gpt2 (C=768, L=12) (default: ${DEFAULT-VALUE}).")
    public String model;

    @Option(names = "--tokenizer", defaultValue = "byte", paramLabel = "byte|gpt2|FILE",
            description = "Tokenizer: byte (V=257), gpt2 (V=50257) or a vocabulary file from `tokenizer train` (default: ${DEFAULT-VALUE}).")
    public String tokenizer;

    @Option(names = "--batch", paramLabel = "B",
            description = "Rows per batch, one batch per training step (default: from the preset, 8 for tiny and small, 4 for gpt2).")
    public Integer batchRows;

    @Option(names = "--seq-len", paramLabel = "T",
            description = "Tokens per row (default: the preset's context length, 256 for tiny and small, 1024 for gpt2).")
    public Integer sequenceLength;

    /** B: the flag, else the preset's default. */
    public int batchRows() {
        return batchRows != null ? batchRows : TrainerConfig.defaultBatchRows(model);
    }

    /** T: the flag, else the preset's context length. */
    public int sequenceLength() {
        return sequenceLength != null ? sequenceLength : TrainerConfig.defaultSequenceLength(model);
    }

    /** Checks preset, B and T; a usage error (exit code 2) names the flag. */
    public void validate(CommandLine commandLine) {
        if (!PRESETS.contains(model)) {
            throw new ParameterException(commandLine, "--model must be one of " + String.join(", ", PRESETS)
                    + ", got '" + model + "'");
        }
        if (batchRows() < 1) {
            throw new ParameterException(commandLine, "--batch must be at least 1, got " + batchRows());
        }
        int contextLength = GptConfig.preset(model, 257).contextLength();
        if (sequenceLength() < 1 || sequenceLength() > contextLength) {
            throw new ParameterException(commandLine, "--seq-len must be in [1, " + contextLength
                    + "] (the context length of " + model + "), got " + sequenceLength());
        }
    }
}
