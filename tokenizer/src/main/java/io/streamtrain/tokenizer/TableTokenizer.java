package io.streamtrain.tokenizer;

import io.streamtrain.tokenizer.internal.TokenTable;

/** A tokenizer whose ids are ranks in a {@link TokenTable} plus end-of-text as the last id: decoding and identity. */
abstract class TableTokenizer implements Tokenizer {
    final TokenTable table;
    private final String name;

    TableTokenizer(String name, TokenTable table) {
        this.name = name;
        this.table = table;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final int vocabularySize() {
        return table.vocabularySize();
    }

    @Override
    public final int endOfText() {
        return table.endOfText();
    }

    @Override
    public final String fingerprint() {
        return table.fingerprint();
    }

    @Override
    public final String decode(int[] ids, int offset, int length) {
        return table.decode(ids, offset, length, name);
    }

    @Override
    public String toString() {
        return name + " (V=" + vocabularySize() + ", end-of-text " + endOfText() + ", fingerprint "
                + fingerprint().substring(0, 12) + ")";
    }
}
