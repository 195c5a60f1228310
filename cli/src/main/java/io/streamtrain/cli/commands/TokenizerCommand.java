package io.streamtrain.cli.commands;

import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.ProgressLine;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.tokenizer.BpeTrainer;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

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
    @Command(name = "train", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
            description = {
                    "Train a byte-level BPE vocabulary on your corpus.",
                    "",
                    "Inputs: UTF-8 text files, .gz files, or directories of them. Use the file it writes as "
                            + "--tokenizer FILE with produce, train and demo."})
    public static final class Train extends ConfiguredCommand {
        static final String INPUTS = "inputs";
        static final String VOCABULARY_SIZE = "vocab.size";
        static final String OUT = "out";

        static final ConfigDef DEFINITION = new ConfigDef()
                .define(INPUTS, Type.LIST, ConfigDef.NO_DEFAULT_VALUE, Importance.HIGH,
                        "Text files, .gz files or directories (read recursively, in name order).")
                .define(VOCABULARY_SIZE, Type.INT, ConfigDef.NO_DEFAULT_VALUE,
                        Range.between(BpeTrainer.MIN_VOCABULARY_SIZE, BpeTrainer.MAX_VOCABULARY_SIZE), Importance.HIGH,
                        "Vocabulary size: 256 bytes + merges + end-of-text, at least " + BpeTrainer.MIN_VOCABULARY_SIZE + ".")
                .define(OUT, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                        "Vocabulary file to write.");

        static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
                .listFlag("--input", INPUTS, "PATH")
                .flag("--vocab-size", VOCABULARY_SIZE, "N")
                .flag("--out", OUT, "FILE");

        public Train() {
            super(SETTINGS);
        }

        @Override
        protected Integer run(ResolvedSettings settings) throws Exception {
            settings.requireKeysWithoutDefault();
            @SuppressWarnings("unchecked")
            List<Path> inputs = ((List<String>) settings.value(INPUTS)).stream().map(Path::of).toList();
            int vocabularySize = (Integer) settings.value(VOCABULARY_SIZE);
            Path out = Path.of((String) settings.value(OUT));
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
