package io.streamtrain.model;

/**
 * The shape of a GPT, in the vocabulary used by every shape comment of this project:
 * V vocabulary, Vp padded vocabulary, T context length, C channels, L layers, NH heads.
 *
 * @param vocabularySize       V, the tokenizer's number of ids
 * @param paddedVocabularySize Vp, V rounded up to a multiple of 64; ids in [V, Vp) are padding:
 *                             never sampled, never given probability
 * @param contextLength        maximum sequence length T the position embedding covers
 * @param channels             C, the width of the residual stream
 * @param layers               L, the number of transformer blocks
 * @param heads                NH, attention heads per block; C must be a multiple of NH
 */
public record GptConfig(int vocabularySize, int paddedVocabularySize, int contextLength,
                        int channels, int layers, int heads) {

    /** Padding granularity of the vocabulary: keeps matrix tiles of the output head whole. */
    public static final int VOCABULARY_PADDING = 64;

    public GptConfig {
        require(vocabularySize > 0, "vocabulary size must be positive, got " + vocabularySize);
        require(paddedVocabularySize >= vocabularySize && paddedVocabularySize % VOCABULARY_PADDING == 0,
                "padded vocabulary size must be a multiple of " + VOCABULARY_PADDING + " and at least "
                        + vocabularySize + ", got " + paddedVocabularySize);
        require(contextLength > 0, "context length must be positive, got " + contextLength);
        require(channels > 0 && layers > 0 && heads > 0,
                "channels, layers and heads must be positive, got C=" + channels + " L=" + layers + " NH=" + heads);
        require(channels % heads == 0,
                "channels (" + channels + ") must be a multiple of heads (" + heads + ")");
    }

    /** A config whose padded vocabulary is derived from V. */
    public static GptConfig of(int vocabularySize, int contextLength, int channels, int layers, int heads) {
        return new GptConfig(vocabularySize, padVocabulary(vocabularySize), contextLength, channels, layers, heads);
    }

    /**
     * A named preset with the vocabulary of the tokenizer in use.
     *
     * @param name {@code tiny} (C=128, L=2, NH=4, T=256), {@code small} (C=384, L=6, NH=6, T=256)
     *             or {@code gpt2} (C=768, L=12, NH=12, T=1024)
     */
    public static GptConfig preset(String name, int vocabularySize) {
        return switch (name) {
            case "tiny" -> of(vocabularySize, 256, 128, 2, 4);
            case "small" -> of(vocabularySize, 256, 384, 6, 6);
            case "gpt2" -> of(vocabularySize, 1024, 768, 12, 12);
            default -> throw new IllegalArgumentException(
                    "unknown model preset '" + name + "': choose one of tiny, small, gpt2");
        };
    }

    public static int padVocabulary(int vocabularySize) {
        return (vocabularySize + VOCABULARY_PADDING - 1) / VOCABULARY_PADDING * VOCABULARY_PADDING;
    }

    /** Channels per head, C / NH. */
    public int headSize() {
        return channels / heads;
    }

    /** Number of trainable parameters, padding rows of the embedding included. */
    public long parameterCount() {
        return ParameterTensor.totalSize(this);
    }

    private static void require(boolean condition, String message) {
        if (!condition) {
            throw new IllegalArgumentException("invalid GPT config: " + message);
        }
    }
}
