package io.streamtrain.cli.commands;

import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ProgressLine;
import io.streamtrain.tokenizer.BpeTrainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code streamtrain tokenizer}: tokenizer tools; {@code tokenizer train} trains a BPE vocabulary on a corpus. */
@Command(name = "tokenizer", mixinStandardHelpOptions = true,
        description = "Tokenizer tools. Built in: byte (V=257) and gpt2 (r50k_base, V=50257); train your own with `tokenizer train`.",
        subcommands = TokenizerCommand.Train.class)
public final class TokenizerCommand implements Runnable {
    @Spec
    private CommandSpec spec;

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing subcommand: use `streamtrain tokenizer train --help`");
    }

    /** {@code streamtrain tokenizer train --input PATH... --vocab-size N --out FILE}. */
    @Command(name = "train", mixinStandardHelpOptions = true,
            description = {
                    "Train a byte-level BPE vocabulary on your corpus.",
                    "",
                    "Inputs: UTF-8 text files, .gz files, or directories of them. Use the file it writes as "
                            + "--tokenizer FILE with produce, train and demo."})
    public static final class Train implements Callable<Integer> {
        @Spec
        private CommandSpec spec;

        @Option(names = "--input", required = true, arity = "1..*", paramLabel = "PATH",
                description = "Text files, .gz files or directories (read recursively, in name order).")
        private List<Path> inputs;

        @Option(names = "--vocab-size", required = true, paramLabel = "N",
                description = "Vocabulary size: 256 bytes + merges + end-of-text, at least " + BpeTrainer.MIN_VOCABULARY_SIZE + ".")
        private int vocabularySize;

        @Option(names = "--out", required = true, paramLabel = "FILE", description = "Vocabulary file to write.")
        private Path out;

        @Override
        public Integer call() throws Exception {
            if (vocabularySize < BpeTrainer.MIN_VOCABULARY_SIZE || vocabularySize > BpeTrainer.MAX_VOCABULARY_SIZE) {
                throw new ParameterException(spec.commandLine(), "--vocab-size must be in [" + BpeTrainer.MIN_VOCABULARY_SIZE
                        + ", " + BpeTrainer.MAX_VOCABULARY_SIZE + "], got " + vocabularySize);
            }
            for (Path input : inputs) {
                if (!Files.exists(input)) {
                    throw new CliException("input " + input.toAbsolutePath() + " does not exist: pass existing files or directories to --input");
                }
            }
            PrintWriter console = spec.commandLine().getOut();
            ProgressLine progress = new ProgressLine(console);
            long start = System.nanoTime();
            BpeTrainer.Result result = BpeTrainer.train(inputs, vocabularySize, out, (phase, done, total) ->
                    progress.update(phase == BpeTrainer.Phase.READING
                            ? String.format(Locale.ROOT, "reading  %s / %s", ProgressLine.bytes(done), ProgressLine.bytes(total))
                            : String.format(Locale.ROOT, "merging  %,d / %,d ids", done, total), done, total));
            progress.finish();
            console.println(String.format(Locale.ROOT,
                    "wrote %s: V=%,d (asked %,d), %,d merges, %,d distinct pieces, fingerprint %s, %.1f s",
                    result.file(), result.vocabularySize(), result.requestedVocabularySize(), result.merges(),
                    result.distinctPieces(), result.fingerprint(), (System.nanoTime() - start) / 1e9));
            console.println("use it with: --tokenizer " + result.file());
            console.flush();
            return 0;
        }
    }
}
