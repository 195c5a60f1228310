package io.streamtrain.cli.commands;

import io.streamtrain.cli.support.CliException;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.HuggingFaceGpt2;
import io.streamtrain.tokenizer.HuggingFaceTokenizerFiles;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code streamtrain export --format hf DIR}: a checkpoint as a Hugging Face GPT-2 directory. */
@Command(name = "export", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Export a checkpoint's model as a Hugging Face GPT-2 directory that transformers (and vLLM) load with "
                        + "no code of ours: AutoModelForCausalLM.from_pretrained(DIR), AutoTokenizer.from_pretrained(DIR).",
                "",
                "DIR gets config.json, generation_config.json, model.safetensors (GPT-2's tensor names, its transposed "
                        + "Conv1D layout, float32), tokenizer.json, tokenizer_config.json and special_tokens_map.json, and "
                        + "for the gpt2 tokenizer GPT-2's vocab.json and merges.txt. `train --init-from DIR` starts a new run "
                        + "from it."})
public final class ExportCommand extends ConfiguredCommand {
    static final String FORMAT = "format";

    static final ConfigDef DEFINITION = Definitions.merge(CheckpointInput.definition(), new ConfigDef()
            .define(FORMAT, Type.STRING, "hf", ConfigDef.ValidString.in("hf"), Importance.MEDIUM,
                    "Export format; hf = a Hugging Face transformers GPT-2 directory."));

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .with(CheckpointInput::flags)
            .flag("--format", FORMAT, "hf");

    @Parameters(paramLabel = "DIR", description = "The directory to write (created; files of the same names replaced).")
    private Path directory;

    public ExportCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws IOException {
        settings.requireKeysWithoutDefault();
        if (directory == null) {
            throw settings.usageError("give the directory to write: streamtrain export --checkpoint PATH DIR");
        }
        if (Files.exists(directory) && !Files.isDirectory(directory)) {
            throw new CliException(directory.toAbsolutePath() + " exists and is not a directory");
        }
        Path file = CheckpointInput.file(settings);
        Checkpoint state = Checkpoints.read(file);
        Tokenizer tokenizer = CheckpointInput.tokenizer(settings, state, file);
        Map<String, String> origin = new LinkedHashMap<>();
        origin.put("checkpoint", file.toAbsolutePath().toString());
        origin.put("step", Long.toString(state.step()));
        for (String key : List.of(RunLedger.RUN_ID_KEY, RunLedger.TOKENS_TRAINED_KEY, RunLedger.CREATED_AT_KEY)) {
            String value = state.metadata().get(key);
            if (value != null) {
                origin.put(key, value);
            }
        }
        origin.put("tokenizer.name", tokenizer.name());
        origin.put("tokenizer.fingerprint", tokenizer.fingerprint());
        HuggingFaceGpt2.write(directory, state.config(), state.parameters(), tokenizer.endOfText(), origin);
        List<String> files = new ArrayList<>(List.of(HuggingFaceGpt2.CONFIG_FILE, HuggingFaceGpt2.GENERATION_CONFIG_FILE,
                HuggingFaceGpt2.MODEL_FILE));
        files.addAll(HuggingFaceTokenizerFiles.write(tokenizer, state.config().contextLength(), directory));
        PrintWriter out = spec.commandLine().getOut();
        out.println("exported step " + state.step() + " of " + file + " (C=" + state.config().channels() + ", L="
                + state.config().layers() + ", NH=" + state.config().heads() + ", T=" + state.config().contextLength()
                + ", V=" + state.config().vocabularySize() + ", tokenizer " + tokenizer.name() + ") to " + directory
                + ": " + String.join(", ", files));
        out.println("load it with: AutoModelForCausalLM.from_pretrained(\"" + directory + "\")");
        out.flush();
        return 0;
    }
}
