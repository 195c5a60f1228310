package io.streamtrain.tokenizer;

import io.streamtrain.tokenizer.internal.TokenTable;
import java.nio.charset.StandardCharsets;

/** Byte-level tokenizer: id = the UTF-8 byte (0..255), end-of-text 256, V = 257. */
public final class ByteTokenizer extends TableTokenizer {
    public static final String NAME = "byte";

    public ByteTokenizer() {
        super(NAME, TokenTable.ofBytes());
    }

    @Override
    public int[] encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xff;
        }
        return ids;
    }
}
