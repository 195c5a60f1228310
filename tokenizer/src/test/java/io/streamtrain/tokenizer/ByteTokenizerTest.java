package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class ByteTokenizerTest extends TokenizerContractTest {
    @Override
    Tokenizer tokenizer() {
        return new ByteTokenizer();
    }

    @Override
    Tokenizer reopened() {
        return Tokenizers.open("byte");
    }

    @Test
    void shouldUseTheUtf8BytesAsIds() {
        Tokenizer tokenizer = tokenizer();
        assertArrayEquals(new int[] {72, 105, 32, 0xE5, 0x85, 0x89}, tokenizer.encode("Hi 光"));
        assertEquals("Hi 光", tokenizer.decode(new int[] {72, 105, 32, 0xE5, 0x85, 0x89}));
        assertEquals("byte", tokenizer.name());
        assertEquals(257, tokenizer.vocabularySize());
        assertEquals(256, tokenizer.endOfText());
    }

    @Test
    void shouldReplaceEachInvalidByteSequence() {
        assertEquals("\uFFFDa\uFFFD", tokenizer().decode(new int[] {0xE5, 'a', 0xFF}));
    }
}
