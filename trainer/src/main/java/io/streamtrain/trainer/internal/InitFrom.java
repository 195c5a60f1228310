package io.streamtrain.trainer.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.HuggingFaceGpt2;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.tokenizer.HuggingFaceTokenizerFiles;
import io.streamtrain.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code init.from}: a new run's weights from a Hugging Face GPT-2 directory (pretrained GPT-2, or an export of ours),
 * after checking that its vocabulary is the trainer's tokenizer: the same number of ids, the same fingerprint where an
 * export of ours recorded one, and the same token for every id where the directory has tokenizer files.
 */
public final class InitFrom {
    private InitFrom() {}

    /**
     * The model shape of the directory, checked against the tokenizer's vocabulary size.
     *
     * @throws IllegalStateException when the vocabulary sizes differ, or the directory is not a GPT-2 we can compute
     */
    public static GptConfig shape(Path directory, Tokenizer tokenizer) {
        GptConfig config;
        try {
            config = HuggingFaceGpt2.readConfig(directory);
        } catch (IOException e) {
            throw new IllegalStateException("init.from: " + e.getMessage(), e);
        }
        if (config.vocabularySize() != tokenizer.vocabularySize()) {
            throw new IllegalStateException("init.from: " + directory + " is a model of " + config.vocabularySize()
                    + " token ids (vocab_size of config.json) but tokenizer " + tokenizer + " has "
                    + tokenizer.vocabularySize() + "; use the tokenizer the model was trained with");
        }
        return config;
    }

    /**
     * The start of a new run from the directory: its weights in our flat layout, both AdamW moments zero, step 0,
     * the random state seeded with {@code seed}; the tokenizer checked. Says on {@code log} what it loaded and what of
     * the tokenizer it could check.
     *
     * @param config the directory's shape, from {@link #shape}
     */
    public static Checkpoint checkpoint(Path directory, Tokenizer tokenizer, TokenizerIdentity identity,
                                        GptConfig config, long seed, PrintStream log) throws IOException {
        float[] weights = weights(directory, tokenizer, log);
        float[] zeros = new float[weights.length]; // shared: Gpt.restore copies both moments to the backend
        return new Checkpoint(config, identity, 0, seed, weights, zeros, zeros, Map.of());
    }

    private static float[] weights(Path directory, Tokenizer tokenizer, PrintStream log) throws IOException {
        HuggingFaceGpt2.Pretrained pretrained = HuggingFaceGpt2.read(directory);
        String fingerprint = pretrained.origin().get("tokenizer.fingerprint");
        if (fingerprint != null && !fingerprint.equals(tokenizer.fingerprint())) {
            throw new IllegalStateException("init.from: " + directory + " was exported from a model trained with"
                    + " tokenizer " + pretrained.origin().get("tokenizer.name") + " (fingerprint " + fingerprint
                    + "), not " + tokenizer + "; use that tokenizer");
        }
        boolean checked;
        try {
            checked = HuggingFaceTokenizerFiles.check(tokenizer, directory);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("init.from: " + e.getMessage(), e);
        }
        GptConfig config = pretrained.config();
        log.println("init.from " + directory + ": GPT-2 weights (C=" + config.channels() + ", L=" + config.layers()
                + ", NH=" + config.heads() + ", T=" + config.contextLength() + ", V=" + config.vocabularySize()
                + "), fresh optimizer; tokenizer " + tokenizer.name() + (checked
                ? " matches the directory's tokenizer files"
                : ": the directory has no tokenizer files, only the vocabulary size was checked"));
        return pretrained.parameters();
    }
}
