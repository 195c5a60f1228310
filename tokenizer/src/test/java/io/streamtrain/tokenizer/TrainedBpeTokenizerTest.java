package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.tokenizer.internal.VocabularyFile;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainedBpeTokenizerTest extends TokenizerContractTest {
    static final int VOCABULARY_SIZE = 400;

    @TempDir
    static Path directory;
    static Path vocabulary;
    static TrainedBpeTokenizer trained;

    @BeforeAll
    static void train() throws IOException {
        Path corpus = Corpus.write(directory.resolve("corpus.txt"), 20);
        vocabulary = directory.resolve("verse.bpe");
        BpeTrainer.train(List.of(corpus), VOCABULARY_SIZE, vocabulary, BpeTrainer.Progress.NONE);
        trained = TrainedBpeTokenizer.load(vocabulary);
    }

    @Override
    Tokenizer tokenizer() {
        return trained;
    }

    @Override
    Tokenizer reopened() {
        return Tokenizers.open(vocabulary.toString());
    }

    @Test
    void theTrainedVocabularyIsReadableByOthersAsAnyNewFileIs() throws IOException {
        assumeTrue(directory.getFileSystem().supportedFileAttributeViews().contains("posix"), "POSIX permissions");
        Path plain = Files.createFile(directory.resolve("plain-new-file.txt")); // what the umask allows
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(vocabulary));
    }

    @Test
    void shouldNameItselfAfterTheFileAndPutEndOfTextLast() {
        assertEquals("bpe:verse.bpe", trained.name());
        assertEquals(VOCABULARY_SIZE, trained.vocabularySize());
        assertEquals(VOCABULARY_SIZE - 1, trained.endOfText());
    }

    @Test
    void shouldEncodeTrainedTextInFewerTokensThanBytes() {
        int[] ids = trained.encode(Corpus.VERSE);
        int bytes = Corpus.VERSE.getBytes(StandardCharsets.UTF_8).length;
        assertTrue(ids.length * 3 < bytes, ids.length + " tokens for " + bytes + " bytes");
        assertEquals(Corpus.VERSE, trained.decode(ids));
    }

    @Test
    void shouldSayTheFileIsMissingAndHowToMakeOne() {
        Path missing = directory.resolve("absent.bpe");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainedBpeTokenizer.load(missing));
        assertTrue(e.getMessage().contains(missing.toAbsolutePath() + " does not exist")
                && e.getMessage().contains("streamtrain tokenizer train"), e.getMessage());
    }

    @Test
    void shouldNameTheLineOfABadLine() throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(vocabulary));
        lines.set(300, "not-base64! 299"); // line 301 of the file
        Path broken = Files.write(directory.resolve("broken.bpe"), lines);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainedBpeTokenizer.load(broken));
        assertTrue(e.getMessage().contains("broken.bpe, line 301: \"not-base64!\" is not base64"), e.getMessage());
    }

    @Test
    void shouldNameTheLineOfARankOutOfOrder() throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(vocabulary));
        lines.remove(280);
        Path gap = Files.write(directory.resolve("gap.bpe"), lines);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainedBpeTokenizer.load(gap));
        assertTrue(e.getMessage().contains("line 281: rank 280 out of order: expected 279"), e.getMessage());
    }

    @Test
    void shouldSayATruncatedFileDisagreesWithItsHeader() throws IOException {
        List<String> lines = Files.readAllLines(vocabulary);
        Path truncated = Files.write(directory.resolve("truncated.bpe"), lines.subList(0, 350));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainedBpeTokenizer.load(truncated));
        assertTrue(e.getMessage().contains("declares vocabulary_size=400") && e.getMessage().contains("truncated"),
                e.getMessage());
    }

    @Test
    void shouldSayWhichSingleByteIsMissing() throws IOException {
        Path noBytes = Files.write(directory.resolve("nobytes.bpe"), List.of("AA== 0", "AQ== 1"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainedBpeTokenizer.load(noBytes));
        assertTrue(e.getMessage().contains("lacks the single byte 2"), e.getMessage());
    }

    @Test
    void shouldWriteAHeaderThenOneBase64TokenAndRankPerLine() throws IOException {
        List<String> lines = Files.readAllLines(vocabulary);
        assertEquals(VocabularyFile.HEADER_PREFIX + " version=1 vocabulary_size=400 end_of_text=399 pattern=gpt2",
                lines.get(0));
        assertEquals(1 + VOCABULARY_SIZE - 1, lines.size(), "header + one line per rank; end-of-text has none");
        assertEquals("QQ== 65", lines.get(1 + 65), "rank 65 is the byte 'A'");
    }

    @Test
    void shouldReadAPlainTiktokenFileWithoutHeader() throws IOException {
        List<String> lines = Files.readAllLines(vocabulary);
        Path plain = Files.write(directory.resolve("plain.tiktoken"), lines.subList(1, lines.size()));
        Tokenizer tokenizer = TrainedBpeTokenizer.load(plain);
        assertEquals(trained.fingerprint(), tokenizer.fingerprint());
        assertEquals(VOCABULARY_SIZE, tokenizer.vocabularySize());
    }
}
