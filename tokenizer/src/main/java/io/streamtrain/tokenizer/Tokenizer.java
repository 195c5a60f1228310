package io.streamtrain.tokenizer;

/**
 * Text <-> token ids. Implementations: byte-level ({@link ByteTokenizer}: 256 byte ids + end-of-text id 256, V=257),
 * GPT-2 BPE r50k_base through jtokkit ({@link Gpt2Tokenizer}: V=50257, end-of-text 50256), and a BPE vocabulary
 * trained on the user's corpus ({@link BpeTrainer}, {@link TrainedBpeTokenizer}: end-of-text is the last id).
 * Open one by spec with {@link Tokenizers#open(String)}. Implementations are immutable and thread-safe.
 */
public interface Tokenizer {
    /** The text the end-of-text id decodes to. Encoding never produces it from text: text is encoded as ordinary bytes. */
    String END_OF_TEXT = "<|endoftext|>";

    /** "byte", "gpt2", "bpe:&lt;file name&gt;". */
    String name();

    /** V: every id is in [0, V). */
    int vocabularySize();

    /** Id that separates documents. */
    int endOfText();

    /** Stable hash of the vocabulary (lowercase hex SHA-256 of its ranks): equal fingerprints encode alike. */
    String fingerprint();

    /** Ids of {@code text}; {@code "<|endoftext|>"} inside the text is encoded as ordinary text, never as the id. */
    int[] encode(String text);

    /**
     * Text of {@code ids[offset, offset + length)}. Never throws for ids in [0, V): the tokens' bytes are joined and
     * decoded as UTF-8, invalid sequences becoming U+FFFD; the end-of-text id becomes {@link #END_OF_TEXT}. An id
     * outside [0, V) is a caller error (ids of another tokenizer) and throws IllegalArgumentException naming it.
     */
    String decode(int[] ids, int offset, int length);

    /** Text of all {@code ids}. */
    default String decode(int[] ids) {
        return decode(ids, 0, ids.length);
    }
}
