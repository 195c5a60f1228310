package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;

class Gpt2TokenizerTest extends TokenizerContractTest {
    @Override
    Tokenizer tokenizer() {
        return Gpt2Tokenizer.get();
    }

    @Override
    Tokenizer reopened() {
        return Tokenizers.open("gpt2");
    }

    @Test
    void shouldEncodeToTheIdsOfGpt2() {
        Tokenizer gpt2 = tokenizer();
        assertArrayEquals(new int[] {15496, 995}, gpt2.encode("Hello world"));
        // Known r50k_base ids: " the" 262, "," 11, "\n" 198, "!" 0.
        assertArrayEquals(new int[] {262, 11, 198, 0}, gpt2.encode(" the,\n!"));
        assertEquals("Hello world", gpt2.decode(new int[] {15496, 995}));
    }

    @Test
    void shouldHaveTheVocabularyOfGpt2() {
        Tokenizer gpt2 = tokenizer();
        assertEquals("gpt2", gpt2.name());
        assertEquals(50257, gpt2.vocabularySize());
        assertEquals(50256, gpt2.endOfText());
        assertEquals(Tokenizer.END_OF_TEXT, gpt2.decode(new int[] {50256}));
        assertSame(gpt2, reopened());
    }
}
