package io.streamtrain.cli.commands;

import io.streamtrain.cli.demo.SampleCorpus;
import io.streamtrain.cli.Main;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizerTrainCommandTest {

    @Test
    void shouldWriteVocabularyThatTokenizersOpenWhenTrainedOnSampleCorpus(@TempDir Path directory) {
        Path corpus = SampleCorpus.copyTo(directory.resolve("corpus"));
        Path vocabulary = directory.resolve("sample.bpe");
        StringWriter out = new StringWriter();
        int exitCode = Main.execute(new PrintWriter(out, true), new PrintWriter(new StringWriter(), true),
                "tokenizer", "train", "--input", corpus.toString(), "--vocab-size", "400", "--out", vocabulary.toString());
        assertEquals(0, exitCode, out.toString());
        assertTrue(out.toString().contains("wrote " + vocabulary), out.toString());

        Tokenizer tokenizer = Tokenizers.open(vocabulary.toString());
        assertEquals(400, tokenizer.vocabularySize());
        String text = "A river does not hurry, and yet it arrives.";
        int[] ids = tokenizer.encode(text);
        assertTrue(ids.length < text.length(), "merges shorten common English: " + ids.length + " ids");
        assertEquals(text, tokenizer.decode(ids, 0, ids.length));
    }
}
