package io.streamtrain.cli.commands;

import io.streamtrain.cli.options.BackendOptions;
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
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * {@code streamtrain generate}: text from a checkpoint, streamed as it is sampled. The same model, prompt, sampling
 * settings and seed give the same text as the trainer's sample of that step ({@code sample.fixed.prompt}, seed =
 * the trainer's seed + step, printed in every TextSample record).
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {
                "Generate text from a checkpoint with its tokenizer, on the GPU or CPU, printing it as it is sampled.",
                "",
                "KV cache, temperature, top-k and a seed: the same checkpoint, prompt, settings and seed give the same "
                        + "text, and the text of the trainer's sample of that step (its record carries the seed). "
                        + "Only the generated text goes to standard output; what was loaded goes to standard error."})
public final class GenerateCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    @Mixin
    private CheckpointInput checkpoint;

    @Mixin
    private BackendOptions backend;

    @ArgGroup(exclusive = true, multiplicity = "1")
    private Prompt prompt;

    static final class Prompt {
        @Option(names = "--prompt", paramLabel = "TEXT", description = "The text to continue; empty = from end-of-text.")
        String text;

        @Option(names = "--prompt-file", paramLabel = "FILE", description = "A UTF-8 file whose text to continue.")
        Path file;
    }

    @Option(names = "--max-tokens", paramLabel = "N",
            description = "Tokens to generate, below the model's context length (default: 200, or context length - 1).")
    private Integer maxTokens;

    @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "X",
            description = "Sampling temperature; 0 = greedy (default: ${DEFAULT-VALUE}, as the trainer's samples).")
    private float temperature;

    @Option(names = "--top-k", defaultValue = "40", paramLabel = "K",
            description = "Sample among the K most likely tokens; 0 = all (default: ${DEFAULT-VALUE}, as the trainer's samples).")
    private int topK;

    @Option(names = "--seed", defaultValue = "1337", paramLabel = "N",
            description = "Seed of the sampling coins (default: ${DEFAULT-VALUE}; a trainer sample's seed is in its record).")
    private long seed;

    @Override
    public Integer call() throws IOException {
        backend.validate(spec.commandLine());
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new ParameterException(spec.commandLine(), "--temperature must be 0 (greedy) or positive, got "
                    + temperature);
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintStream info = WriterOutputStream.printStream(spec.commandLine().getErr(), "");
        Path file = checkpoint.file();
        Checkpoint state = Checkpoints.read(file);
        Tokenizer tokenizer = checkpoint.tokenizer(state, file);
        int contextLength = state.config().contextLength();
        int tokens = maxTokens != null ? maxTokens : Math.min(200, contextLength - 1);
        if (tokens < 1 || tokens >= contextLength) {
            throw new ParameterException(spec.commandLine(), "--max-tokens must be in [1, " + (contextLength - 1)
                    + "] (the model's context length " + contextLength + " minus one prompt token), got " + tokens);
        }
        String text = promptText();
        int[] ids = text.isEmpty() ? new int[] {tokenizer.endOfText()} : tokenizer.encode(text);
        info.println("checkpoint " + file + ": step " + state.step() + ", tokenizer " + tokenizer.name() + "; prompt "
                + ids.length + " tokens" + (ids.length + tokens > contextLength
                ? " (the first " + (ids.length + tokens - contextLength) + " cut to fit the context)" : ""));
        Kernels kernels = Backends.open(backend.backend, backend.cpuThreads, info);
        try (Gpt gpt = Gpt.restore(state, kernels, TrainingOptions.defaults())) {
            StreamedText streamed = new StreamedText(tokenizer, tokens, out);
            gpt.generate(ids, tokens, new SamplingOptions(temperature, topK), seed, streamed::add);
            streamed.finish();
        }
        return 0;
    }

    private String promptText() {
        if (prompt.file == null) {
            return prompt.text;
        }
        try {
            return Files.readString(prompt.file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new CliException("cannot read --prompt-file " + prompt.file.toAbsolutePath() + ": " + e.getMessage(), e);
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
