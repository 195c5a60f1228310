package io.streamtrain.cli.commands;

import io.streamtrain.cli.support.CliException;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ResolvedSettings;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The checkpoint a command reads, shared by {@code generate} and {@code export}: {@code --checkpoint} (a file, a
 * checkpoint directory or a run directory, the newest checkpoint of a directory) and the checkpoint's own tokenizer
 * ({@code --tokenizer} only where the checkpoint's trained vocabulary file cannot be found, checked by fingerprint).
 */
public final class CheckpointInput {
    static final String CHECKPOINT = "checkpoint";
    static final String TOKENIZER = "tokenizer";
    private static final Pattern NAME = Pattern.compile("step-\\d{12}\\.safetensors");

    private CheckpointInput() {}

    /** The keys {@code checkpoint} and {@code tokenizer}. */
    static ConfigDef definition() {
        return new ConfigDef()
                .define(CHECKPOINT, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, new ConfigDef.NonEmptyString(), Importance.HIGH,
                        "A checkpoint file, or a run or checkpoint directory (its newest checkpoint).")
                .define(TOKENIZER, Type.STRING, "", Importance.MEDIUM,
                        "The checkpoint's tokenizer, checked against it by fingerprint; empty = the one it names (a "
                                + "trained vocabulary is looked for by file name in the current, checkpoint and run "
                                + "directories).");
    }

    /** {@code --checkpoint PATH} and {@code --tokenizer byte|gpt2|FILE}. */
    static CommandSettings flags(CommandSettings settings) {
        return settings.flag("--checkpoint", CHECKPOINT, "PATH").flag("--tokenizer", TOKENIZER, "byte|gpt2|FILE");
    }

    /** The checkpoint file the {@code checkpoint} setting names. */
    static Path file(ResolvedSettings settings) throws IOException {
        Path path = Path.of((String) settings.value(CHECKPOINT));
        if (Files.isRegularFile(path)) {
            return path;
        }
        if (Files.isDirectory(path)) {
            for (Path directory : List.of(path, path.resolve("checkpoints"))) {
                if (Files.isDirectory(directory)) {
                    try (Stream<Path> files = Files.list(directory)) {
                        var newest = files.filter(file -> NAME.matcher(file.getFileName().toString()).matches())
                                .max(Comparator.comparing(file -> file.getFileName().toString()));
                        if (newest.isPresent()) {
                            return newest.get();
                        }
                    }
                }
            }
            throw new CliException("there is no checkpoint (step-<step>.safetensors) in " + path.toAbsolutePath()
                    + " or its checkpoints directory");
        }
        throw new CliException("--checkpoint " + path.toAbsolutePath() + " is neither a checkpoint file nor a directory");
    }

    /** The tokenizer the checkpoint was trained with, its fingerprint checked. */
    static Tokenizer tokenizer(ResolvedSettings settings, Checkpoint checkpoint, Path file) {
        TokenizerIdentity identity = checkpoint.tokenizer();
        String spec = (String) settings.value(TOKENIZER);
        Tokenizer tokenizer;
        try {
            tokenizer = Tokenizers.open(!spec.isEmpty() ? spec : locate(identity.name(), file));
        } catch (IllegalArgumentException e) {
            throw new CliException(e.getMessage(), e);
        }
        if (!tokenizer.fingerprint().equals(identity.fingerprint())
                || tokenizer.vocabularySize() != identity.vocabularySize()) {
            throw new CliException("tokenizer " + tokenizer + " is not the one checkpoint " + file + " was trained with ("
                    + identity.name() + ", V=" + identity.vocabularySize() + ", fingerprint " + identity.fingerprint()
                    + "); give that one with --tokenizer");
        }
        return tokenizer;
    }

    /** The spec of a checkpoint's tokenizer: its name, or for {@code bpe:FILE} the vocabulary file where found. */
    private static String locate(String name, Path file) {
        if (!name.startsWith("bpe:")) {
            return name;
        }
        String fileName = name.substring("bpe:".length());
        List<Path> tried = new ArrayList<>();
        Path directory = file.toAbsolutePath().getParent();
        tried.add(Path.of(fileName).toAbsolutePath());
        for (int up = 0; up < 3 && directory != null; up++, directory = directory.getParent()) {
            tried.add(directory.resolve(fileName));
        }
        for (Path candidate : tried) {
            if (Files.isRegularFile(candidate)) {
                return candidate.toString();
            }
        }
        throw new CliException("checkpoint " + file + " was trained with the vocabulary " + fileName + ", which is not"
                + " in " + tried + "; give its path with --tokenizer FILE");
    }
}
