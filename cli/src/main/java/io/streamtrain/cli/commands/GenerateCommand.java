package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.Backends;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * {@code streamtrain generate}: text from a checkpoint, streamed as it is sampled. The same model, prompt, sampling
 * settings and seed give the same text as the trainer's sample of that step ({@code sample.fixed.prompt}, seed =
 * the trainer's seed + step, printed in every TextSample record).
 */
@Command(name = "generate", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Generate text from a checkpoint with its tokenizer, on the GPU or CPU, printing it as it is sampled.",
                "",
                "KV cache, temperature, top-k and a seed: the same checkpoint, prompt, settings and seed give the same "
                        + "text, and the text of the trainer's sample of that step (its record carries the seed). "
                        + "Only the generated text goes to standard output; what was loaded goes to standard error."})
public final class GenerateCommand extends ConfiguredCommand {
    static final String PROMPT = "prompt";
    static final String PROMPT_FILE = "prompt.file";
    static final String MAX_TOKENS = "max.tokens";
    static final String TEMPERATURE = "temperature";
    static final String TOP_K = "top.k";
    static final String SEED = "seed";

    static final ConfigDef DEFINITION = Definitions.merge(CheckpointInput.definition(),
            Definitions.keys(TrainerConfig.CONFIG, TrainerConfig.BACKEND, TrainerConfig.CPU_THREADS),
            new ConfigDef()
                    .define(PROMPT, Type.STRING, null, Importance.HIGH,
                            "The text to continue; empty = from end-of-text. Give this or prompt.file.")
                    .define(PROMPT_FILE, Type.STRING, null, Importance.HIGH, "A UTF-8 file whose text to continue.")
                    .define(MAX_TOKENS, Type.INT, null, Definitions.nullOr(Range.atLeast(1)), Importance.HIGH,
                            "Tokens to generate, below the model's context length; unset = 200, or context length - 1.")
                    .define(TEMPERATURE, Type.DOUBLE, 0.8, Range.atLeast(0.0), Importance.MEDIUM,
                            "Sampling temperature; 0 = greedy (the trainer's samples: sample.temperature).")
                    .define(TOP_K, Type.INT, 40, Importance.MEDIUM,
                            "Sample among the K most likely tokens; 0 = all (the trainer's samples: sample.top.k).")
                    .define(SEED, Type.LONG, 1337L, Importance.MEDIUM,
                            "Seed of the sampling coins; a trainer sample's seed is in its TextSample record."));

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .with(CheckpointInput::flags)
            .with(SharedFlags::backend)
            .flag("--prompt", PROMPT, "TEXT")
            .flag("--prompt-file", PROMPT_FILE, "FILE")
            .flag("--max-tokens", MAX_TOKENS, "N")
            .flag("--temperature", TEMPERATURE, "X")
            .flag("--top-k", TOP_K, "K")
            .flag("--seed", SEED, "N");

    public GenerateCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws IOException {
        settings.requireKeysWithoutDefault();
        if ((settings.value(PROMPT) == null) == (settings.value(PROMPT_FILE) == null)) {
            throw settings.usageError("give exactly one of " + settings.describe(PROMPT) + " and "
                    + settings.describe(PROMPT_FILE));
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintStream info = WriterOutputStream.printStream(spec.commandLine().getErr(), "");
        Path file = CheckpointInput.file(settings);
        Checkpoint state = Checkpoints.read(file);
        Tokenizer tokenizer = CheckpointInput.tokenizer(settings, state, file);
        int contextLength = state.config().contextLength();
        Integer asked = (Integer) settings.value(MAX_TOKENS);
        int tokens = asked != null ? asked : Math.min(200, contextLength - 1);
        if (tokens >= contextLength) {
            throw settings.usageError(settings.describe(MAX_TOKENS) + " must be below the model's context length "
                    + contextLength + " (one prompt token at least), got " + tokens);
        }
        String text = promptText(settings);
        int[] ids = text.isEmpty() ? new int[] {tokenizer.endOfText()} : tokenizer.encode(text);
        info.println("checkpoint " + file + ": step " + state.step() + ", tokenizer " + tokenizer.name() + "; prompt "
                + ids.length + " tokens" + (ids.length + tokens > contextLength
                ? " (the first " + (ids.length + tokens - contextLength) + " cut to fit the context)" : ""));
        Kernels kernels = Backends.open((String) settings.value(TrainerConfig.BACKEND),
                (Integer) settings.value(TrainerConfig.CPU_THREADS), info);
        try (Gpt gpt = Gpt.restore(state, kernels, TrainingOptions.defaults())) {
            StreamedText streamed = new StreamedText(tokenizer, tokens, out);
            SamplingOptions sampling = new SamplingOptions(((Double) settings.value(TEMPERATURE)).floatValue(),
                    (Integer) settings.value(TOP_K));
            gpt.generate(ids, tokens, sampling, (Long) settings.value(SEED), streamed::add);
            streamed.finish();
        }
        return 0;
    }

    private static String promptText(ResolvedSettings settings) {
        String text = (String) settings.value(PROMPT);
        if (text != null) {
            return text;
        }
        Path file = Path.of((String) settings.value(PROMPT_FILE));
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CliException("cannot read " + settings.describe(PROMPT_FILE) + " " + file.toAbsolutePath() + ": "
                    + e.getMessage(), e);
        }
    }

    /**
     * Prints the text of the ids so far as they come, holding back a trailing incomplete UTF-8 sequence (decoded as
     * U+FFFD) until the id that completes it arrives; the text printed in all is the decode of all ids.
     */
    static final class StreamedText {
        private final Tokenizer tokenizer;
        private final int[] ids;
        private final PrintWriter out;
        private int count;
        private int printed;

        StreamedText(Tokenizer tokenizer, int capacity, PrintWriter out) {
            this.tokenizer = tokenizer;
            this.ids = new int[capacity];
            this.out = out;
        }

        void add(int id) {
            ids[count++] = id;
            String text = tokenizer.decode(ids, 0, count);
            int end = text.length();
            while (end > printed && text.charAt(end - 1) == '\uFFFD') {
                end--;
            }
            print(text, end);
        }

        void finish() {
            String text = tokenizer.decode(Arrays.copyOf(ids, count));
            print(text, text.length());
            out.println();
            out.flush();
        }

        private void print(String text, int end) {
            if (end > printed) {
                out.print(text.substring(printed, end));
                out.flush();
                printed = end;
            }
        }
    }
}
