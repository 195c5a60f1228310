package io.streamtrain.tokenizer;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/** Opens a tokenizer by its spec: {@code byte}, {@code gpt2}, or the path of a vocabulary trained by {@link BpeTrainer}. */
public final class Tokenizers {
    private static final String BPE_PREFIX = "bpe:";

    private Tokenizers() {}

    /**
     * {@code "byte"} | {@code "gpt2"} | path to a trained vocabulary file (optionally prefixed {@code bpe:}); an
     * IllegalArgumentException naming the spec otherwise.
     */
    public static Tokenizer open(String spec) {
        if (spec == null || spec.isBlank()) {
            throw new IllegalArgumentException("tokenizer spec is empty: use byte, gpt2 or the path of a vocabulary"
                    + " file trained with `streamtrain tokenizer train`");
        }
        switch (spec) {
            case ByteTokenizer.NAME:
                return new ByteTokenizer();
            case Gpt2Tokenizer.NAME:
                return Gpt2Tokenizer.get();
            default:
                return TrainedBpeTokenizer.load(vocabularyPath(spec));
        }
    }

    private static Path vocabularyPath(String spec) {
        String location = spec.startsWith(BPE_PREFIX) ? spec.substring(BPE_PREFIX.length()) : spec;
        Path path;
        try {
            path = Path.of(location);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException(unknown(spec, "\"" + location + "\" is not a valid path"), e);
        }
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(unknown(spec, "there is no file " + path.toAbsolutePath()));
        }
        return path;
    }

    private static String unknown(String spec, String why) {
        return "tokenizer spec \"" + spec + "\" is neither byte, gpt2 nor a vocabulary file (" + why + "); train a"
                + " vocabulary with `streamtrain tokenizer train --input PATH... --vocab-size N --out FILE`";
    }
}
