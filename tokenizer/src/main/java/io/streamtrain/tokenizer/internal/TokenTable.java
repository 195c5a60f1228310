package io.streamtrain.tokenizer.internal;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The bytes of every rank of a byte-level vocabulary, id = rank, plus end-of-text as the last id (V = ranks + 1):
 * decoding and the fingerprint of any of our tokenizers.
 */
public final class TokenTable {
    private static final byte[] END_OF_TEXT_BYTES = "<|endoftext|>".getBytes(StandardCharsets.UTF_8);

    private final byte[][] ranks;
    private final String fingerprint;

    private TokenTable(byte[][] ranks) {
        this.ranks = ranks;
        this.fingerprint = fingerprint(ranks);
    }

    /** Table of {@code ranks} (not copied: the caller hands it over). */
    public static TokenTable of(byte[][] ranks) {
        return new TokenTable(ranks);
    }

    /** The 256 single bytes, rank = byte value. */
    public static TokenTable ofBytes() {
        return new TokenTable(singleBytes());
    }

    /** Ranks 0..255: the single bytes in byte-value order, the start of every vocabulary {@code BpeTrainer} writes. */
    public static byte[][] singleBytes() {
        byte[][] ranks = new byte[256][];
        for (int b = 0; b < 256; b++) {
            ranks[b] = new byte[] {(byte) b};
        }
        return ranks;
    }

    public int vocabularySize() {
        return ranks.length + 1;
    }

    public int endOfText() {
        return ranks.length;
    }

    public String fingerprint() {
        return fingerprint;
    }

    /** Bytes of the token {@code id} (not a copy); end-of-text gives {@code <|endoftext|>}. */
    public byte[] bytes(int id) {
        return id == ranks.length ? END_OF_TEXT_BYTES : ranks[id];
    }

    /** Joins the tokens' bytes and decodes them as UTF-8 (invalid sequences -> U+FFFD). */
    public String decode(int[] ids, int offset, int length, String tokenizerName) {
        if (offset < 0 || length < 0 || offset > ids.length - length) {
            throw new IndexOutOfBoundsException("ids range [" + offset + ", " + offset + " + " + length
                    + ") is outside an array of " + ids.length + " ids");
        }
        int vocabularySize = vocabularySize();
        int byteCount = 0;
        for (int i = offset; i < offset + length; i++) {
            int id = ids[i];
            if (id < 0 || id >= vocabularySize) {
                throw new IllegalArgumentException("token id " + id + " at index " + i + " is outside the vocabulary"
                        + " of tokenizer " + tokenizerName + " [0, " + vocabularySize + "): were the ids made by"
                        + " another tokenizer?");
            }
            byteCount += bytes(id).length;
        }
        byte[] text = new byte[byteCount];
        int position = 0;
        for (int i = offset; i < offset + length; i++) {
            byte[] token = bytes(ids[i]);
            System.arraycopy(token, 0, text, position, token.length);
            position += token.length;
        }
        return new String(text, StandardCharsets.UTF_8); // replaces malformed input with U+FFFD
    }

    /** SHA-256 over (length, bytes) of every rank in order, then the end-of-text text: lowercase hex. */
    private static String fingerprint(byte[][] ranks) {
        MessageDigest sha256;
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM lacks SHA-256, which every Java platform must provide", e);
        }
        ByteBuffer length = ByteBuffer.allocate(Integer.BYTES);
        for (byte[] rank : ranks) {
            sha256.update(length.clear().putInt(rank.length).array());
            sha256.update(rank);
        }
        sha256.update(END_OF_TEXT_BYTES);
        return HexFormat.of().formatHex(sha256.digest());
    }
}
