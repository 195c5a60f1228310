package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {
    @TempDir
    Path directory;

    private BpeTrainer.Result train(Path input, int vocabularySize, String out) throws IOException {
        return BpeTrainer.train(List.of(input), vocabularySize, directory.resolve(out), BpeTrainer.Progress.NONE);
    }

    private IllegalArgumentException trainingFails(Path input, int vocabularySize) {
        return assertThrows(IllegalArgumentException.class, () -> train(input, vocabularySize, "failed.bpe"));
    }

    @Test
    void shouldMergeTheMostFrequentPairFirst() throws IOException {
        Path corpus = Files.writeString(directory.resolve("a.txt"), "aaaa aaaa aaaa ab ab");
        Path out = directory.resolve("a.bpe");
        BpeTrainer.Result result = BpeTrainer.train(List.of(corpus), 258, out, BpeTrainer.Progress.NONE);
        assertEquals(258, result.vocabularySize());
        assertEquals(1, result.merges());
        List<String> lines = Files.readAllLines(out);
        assertEquals("YWE= 256", lines.get(257), "rank 256 is \"aa\" (base64 YWE=)");
        Tokenizer tokenizer = TrainedBpeTokenizer.load(out);
        assertArrayEquals(new int[] {256, 256}, tokenizer.encode("aaaa"));
        assertEquals(257, tokenizer.endOfText());
    }

    @Test
    void shouldMakeExactlyTheAskedVocabularySizeWhenTheCorpusAllows() throws IOException {
        Path corpus = Corpus.write(directory.resolve("verse.txt"), 20);
        BpeTrainer.Result result = train(corpus, 300, "v.bpe");
        assertEquals(300, result.vocabularySize());
        assertEquals(300, result.requestedVocabularySize());
        assertEquals(43, result.merges());
        assertEquals(300, TrainedBpeTokenizer.load(result.file()).vocabularySize());
    }

    @Test
    void shouldStopEarlyWhenNoPairOccursTwice() throws IOException {
        Path corpus = Files.writeString(directory.resolve("short.txt"), "abab cd");
        BpeTrainer.Result result = train(corpus, 1000, "s.bpe");
        assertEquals(258, result.vocabularySize(), "only \"ab\" occurs twice");
        assertEquals(1000, result.requestedVocabularySize());
    }

    @Test
    void shouldTrainTheSameVocabularyEveryTime() throws IOException {
        Path corpus = Corpus.write(directory.resolve("verse.txt"), 10);
        BpeTrainer.Result first = train(corpus, 350, "1.bpe");
        BpeTrainer.Result second = train(corpus, 350, "2.bpe");
        assertEquals(first.fingerprint(), second.fingerprint());
        assertArrayEquals(Files.readAllBytes(first.file()), Files.readAllBytes(second.file()));
        assertEquals(first.fingerprint(), TrainedBpeTokenizer.load(first.file()).fingerprint());
    }

    @Test
    void shouldReadDirectoriesAndGzipLikeTheSamePlainFile() throws IOException {
        Path plain = Corpus.write(directory.resolve("verse.txt"), 10);
        Path folder = Files.createDirectories(directory.resolve("folder/nested"));
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(folder.resolve("verse.txt.gz")))) {
            out.write(Files.readAllBytes(plain));
        }
        String fromPlain = train(plain, 320, "p.bpe")
                .fingerprint();
        String fromFolder = train(directory.resolve("folder"), 320, "f.bpe").fingerprint();
        assertEquals(fromPlain, fromFolder);
    }

    @Test
    void shouldReportProgressUpToTheTotal() throws IOException {
        Path corpus = Corpus.write(directory.resolve("verse.txt"), 10);
        List<long[]> merging = new ArrayList<>();
        List<long[]> reading = new ArrayList<>();
        BpeTrainer.train(List.of(corpus), 300, directory.resolve("p.bpe"), (phase, done, total) ->
                (phase == BpeTrainer.Phase.MERGING ? merging : reading).add(new long[] {done, total}));
        long[] lastRead = reading.get(reading.size() - 1);
        assertEquals(Files.size(corpus), lastRead[0]);
        assertEquals(Files.size(corpus), lastRead[1]);
        long[] lastMerge = merging.get(merging.size() - 1);
        assertArrayEquals(new long[] {43, 43}, lastMerge);
        assertTrue(merging.size() >= 43, "one report per merge at least");
    }

    @Test
    void shouldRejectAVocabularySizeBelowTheBytesAndEndOfText() {
        IllegalArgumentException e = trainingFails(directory, 256);
        assertTrue(e.getMessage().contains("vocabulary size 256 is outside [257,"), e.getMessage());
    }

    @Test
    void shouldNameAMissingInput() {
        Path missing = directory.resolve("nope.txt");
        IllegalArgumentException e = trainingFails(missing, 300);
        assertTrue(e.getMessage().contains(missing.toAbsolutePath() + " does not exist"), e.getMessage());
    }

    @Test
    void shouldNameAnInputThatIsNotUtf8() throws IOException {
        Path latin1 = Files.write(directory.resolve("latin1.txt"), "caf\u00e9 au lait".getBytes(StandardCharsets.ISO_8859_1));
        IllegalArgumentException e = trainingFails(latin1, 300);
        assertTrue(e.getMessage().contains(latin1.toAbsolutePath() + " is not UTF-8 text"), e.getMessage());
        assertTrue(Files.notExists(directory.resolve("failed.bpe")), "no vocabulary written");
    }

    @Test
    void shouldSayInputsWithoutTextHoldNothingToTrainOn() throws IOException {
        Path empty = Files.writeString(directory.resolve("empty.txt"), "");
        IllegalArgumentException e = trainingFails(empty, 300);
        assertTrue(e.getMessage().contains("holds no text"), e.getMessage());
    }

    @Test
    void shouldRefuseJsonInputsInsteadOfLearningTheirSyntax() throws IOException {
        Path jsonl = Files.writeString(directory.resolve("docs.jsonl.gz"), "{\"text\": \"hello\"}\n");
        IllegalArgumentException e = trainingFails(jsonl, 300);
        assertTrue(e.getMessage().contains("docs.jsonl.gz is JSON by its name") && e.getMessage().contains("addText"),
                e.getMessage());
    }

    @Test
    void shouldTrainOnAddedDocumentsLikeOnAFileOfThem() throws IOException {
        Path file = Corpus.write(directory.resolve("verse.txt"), 10);
        BpeTrainer trainer = new BpeTrainer();
        trainer.addText(Files.readString(file));
        BpeTrainer.Result added = trainer.writeVocabulary(320, directory.resolve("added.bpe"), BpeTrainer.Progress.NONE);
        assertEquals(train(file, 320, "file.bpe").fingerprint(), added.fingerprint());
        assertEquals(trainer.distinctPieces(), added.distinctPieces());
    }

    @Test
    void shouldTrainOnTinyShakespeareAndRoundTripIt() throws IOException {
        Path shared = Path.of(System.getProperty("streamtrain.shared", "../shared"));
        Path shakespeare = shared.resolve("data/tinyshakespeare.txt");
        assumeTrue(Files.isRegularFile(shakespeare), "skipped: " + shakespeare.toAbsolutePath()
                + " is absent (the shared corpus sits beside the repository)");
        BpeTrainer.Result result = train(shakespeare, 2048, "shakespeare.bpe");
        assertEquals(2048, result.vocabularySize());
        Tokenizer tokenizer = TrainedBpeTokenizer.load(result.file());
        String text = Files.readString(shakespeare);
        int[] ids = tokenizer.encode(text);
        assertEquals(text, tokenizer.decode(ids));
        double bytesPerToken = (double) text.getBytes(StandardCharsets.UTF_8).length / ids.length;
        // Measured 2.87 bytes per token (GPT-2's 50257 ids: 3.30); raw bytes would be 1.0.
        assertTrue(bytesPerToken > 2.5, "a 2048-id vocabulary trained on the text compresses it: "
                + bytesPerToken + " bytes per token");
    }
}
