package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizersTest {
    @TempDir
    Path directory;

    @Test
    void shouldOpenTheBuiltInTokenizersByName() {
        assertEquals(257, Tokenizers.open("byte").vocabularySize());
        assertEquals(50257, Tokenizers.open("gpt2").vocabularySize());
    }

    @Test
    void shouldOpenATrainedVocabularyByPathWithOrWithoutTheBpePrefix() throws IOException {
        Path corpus = Corpus.write(directory.resolve("verse.txt"), 5);
        Path vocabulary = directory.resolve("verse.bpe");
        BpeTrainer.train(List.of(corpus), 300, vocabulary, BpeTrainer.Progress.NONE);
        Tokenizer byPath = Tokenizers.open(vocabulary.toString());
        Tokenizer byName = Tokenizers.open("bpe:" + vocabulary);
        assertEquals("bpe:verse.bpe", byPath.name());
        assertEquals(byPath.fingerprint(), byName.fingerprint());
    }

    @Test
    void shouldNameAnUnknownSpecAndSayHowToTrainAVocabulary() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.open("gpt-2"));
        assertTrue(e.getMessage().startsWith("tokenizer spec \"gpt-2\" is neither byte, gpt2 nor a vocabulary file")
                && e.getMessage().contains("streamtrain tokenizer train"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Tokenizers.open(" "));
    }
}
