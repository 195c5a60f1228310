package io.streamtrain.tokenizer;

import io.streamtrain.tokenizer.internal.Gpt2Pattern;
import io.streamtrain.tokenizer.internal.PairMerger;
import io.streamtrain.tokenizer.internal.TokenTable;
import io.streamtrain.tokenizer.internal.VocabularyFile;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.regex.Matcher;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * Trains a byte-level BPE vocabulary on a corpus, like GPT-2's: the text is split with GPT-2's pre-tokenization
 * regex, distinct pieces are counted, and the most frequent adjacent pair of tokens is merged until the vocabulary
 * has {@code vocabularySize} ids (the 256 bytes, the merges, and end-of-text last). Writes the file that
 * {@link TrainedBpeTokenizer} and {@code Tokenizers.open(path)} read (tiktoken format plus a header line).
 * Training stops early, with fewer ids, when no pair occurs twice any more. Deterministic: the same text gives the
 * same file.
 *
 * <p>{@link #train(List, int, Path, Progress)} reads UTF-8 text files, gzip of them ({@code .gz}) and directories of
 * them (recursively, in name order). For other sources (JSON Lines documents, a database) add each document's text
 * with {@link #addText(CharSequence)}, then call {@link #writeVocabulary(int, Path, Progress)}.
 */
public final class BpeTrainer {
    /** The 256 bytes and end-of-text: a vocabulary without merges. */
    public static final int MIN_VOCABULARY_SIZE = 257;
    public static final int MAX_VOCABULARY_SIZE = 1 << 20;
    private static final int CHUNK_CHARS = 1 << 20;

    /** What the trainer is doing: reading the inputs (bytes read of all bytes) then merging (ids made of asked). */
    public enum Phase { READING, MERGING }

    /** Progress of a long training: called often (the caller throttles its display); done reaches total at the end. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (phase, done, total) -> { };

        void update(Phase phase, long done, long total);
    }

    /**
     * What training produced: the file, its vocabulary size V (at most the asked size), the merges that made the
     * non-byte tokens (V - 257), the distinct pre-tokenized pieces of the corpus, and the fingerprint the tokenizer
     * reports.
     */
    public record Result(Path file, int vocabularySize, int requestedVocabularySize, int merges, int distinctPieces,
                         String fingerprint) {}

    private final Map<String, long[]> pieceCounts = new HashMap<>(); // piece -> occurrences

    /** An empty trainer; add text, then {@link #writeVocabulary}. Not thread-safe. */
    public BpeTrainer() {}

    /**
     * Trains on {@code inputs} (files, {@code .gz} files, directories) and writes the vocabulary to {@code out}.
     *
     * @throws IllegalArgumentException for a bad vocabulary size, a missing input, inputs without text, not UTF-8 or
     *         named as JSON (naming the file)
     * @throws IOException when an input cannot be read or {@code out} cannot be written
     */
    public static Result train(List<Path> inputs, int vocabularySize, Path out, Progress progress) throws IOException {
        checkVocabularySize(vocabularySize);
        List<Path> files = expand(inputs);
        long totalBytes = 0;
        for (Path file : files) {
            totalBytes += Files.size(file);
        }
        BpeTrainer trainer = new BpeTrainer();
        long before = 0;
        for (Path file : files) {
            long start = before;
            long total = totalBytes;
            trainer.addFile(file, read -> progress.update(Phase.READING, start + read, total));
            before += Files.size(file);
        }
        progress.update(Phase.READING, totalBytes, totalBytes);
        return trainer.writeVocabulary(vocabularySize, out, progress);
    }

    /** Counts the pre-tokenized pieces of one document's text. */
    public void addText(CharSequence text) {
        Matcher matcher = Gpt2Pattern.PATTERN.matcher(text);
        while (matcher.find()) {
            pieceCounts.computeIfAbsent(matcher.group(), piece -> new long[1])[0]++;
        }
    }

    /**
     * Counts the pieces of a UTF-8 text file ({@code .gz}: gzip of one), read in chunks cut at line ends;
     * {@code bytesRead} hears the bytes read from disk so far.
     */
    public void addFile(Path file, LongConsumer bytesRead) throws IOException {
        long[] read = {0};
        InputStream raw = new FilterInputStream(Files.newInputStream(file)) {
            @Override
            public int read(byte[] buffer, int offset, int length) throws IOException {
                int n = super.read(buffer, offset, length);
                if (n > 0) {
                    read[0] += n;
                }
                return n;
            }
        };
        InputStream in = file.getFileName().toString().endsWith(".gz") ? new GZIPInputStream(raw, 1 << 16) : raw;
        var decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        StringBuilder text = new StringBuilder(CHUNK_CHARS + (1 << 16));
        char[] buffer = new char[1 << 16];
        try (Reader reader = new InputStreamReader(in, decoder)) {
            for (int n; (n = reader.read(buffer)) >= 0; ) {
                text.append(buffer, 0, n);
                if (text.length() >= CHUNK_CHARS) {
                    int cut = text.lastIndexOf("\n") + 1;
                    if (cut > 0) {
                        addText(text.subSequence(0, cut));
                        text.delete(0, cut);
                    }
                    bytesRead.accept(read[0]);
                }
            }
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("input " + file.toAbsolutePath() + " is not UTF-8 text (invalid bytes"
                    + " near byte " + read[0] + "); convert it to UTF-8 or leave it out", e);
        }
        addText(text);
        bytesRead.accept(read[0]);
    }

    /** Distinct pre-tokenized pieces added so far. */
    public int distinctPieces() {
        return pieceCounts.size();
    }

    /**
     * Merges pairs over the text added so far until {@code vocabularySize} ids and writes the vocabulary to
     * {@code out} (atomically: a temporary file, then a move).
     */
    public Result writeVocabulary(int vocabularySize, Path out, Progress progress) throws IOException {
        checkVocabularySize(vocabularySize);
        if (pieceCounts.isEmpty()) {
            throw new IllegalArgumentException("the corpus holds no text to train on: the inputs are empty (or no"
                    + " text was added)");
        }
        List<String> pieces = new ArrayList<>(pieceCounts.keySet());
        pieces.sort(null); // a fixed word order, whatever the hash map's: training is deterministic
        List<byte[]> words = new ArrayList<>(pieces.size());
        long[] frequencies = new long[pieces.size()];
        for (int i = 0; i < pieces.size(); i++) {
            words.add(pieces.get(i).getBytes(StandardCharsets.UTF_8));
            frequencies[i] = pieceCounts.get(pieces.get(i))[0];
        }
        int rankCount = vocabularySize - 1;
        int firstRanks = TokenTable.singleBytes().length;
        byte[][] ranks = new PairMerger(words, frequencies)
                .merge(rankCount, ranksMade -> progress.update(Phase.MERGING, ranksMade - firstRanks,
                        rankCount - firstRanks));
        progress.update(Phase.MERGING, rankCount - firstRanks, rankCount - firstRanks);
        VocabularyFile.write(out, ranks);
        return new Result(out, ranks.length + 1, vocabularySize, ranks.length - firstRanks, pieces.size(),
                TokenTable.of(ranks).fingerprint());
    }

    private static void checkVocabularySize(int vocabularySize) {
        if (vocabularySize < MIN_VOCABULARY_SIZE || vocabularySize > MAX_VOCABULARY_SIZE) {
            throw new IllegalArgumentException("vocabulary size " + vocabularySize + " is outside ["
                    + MIN_VOCABULARY_SIZE + ", " + MAX_VOCABULARY_SIZE + "]: it counts the 256 bytes, the merges and"
                    + " end-of-text (GPT-2 has 50257)");
        }
    }

    /** Files of {@code inputs}: files as given, directories' regular files recursively in name order. */
    private static List<Path> expand(List<Path> inputs) throws IOException {
        if (inputs.isEmpty()) {
            throw new IllegalArgumentException("no input to train on: give at least one text file or directory");
        }
        List<Path> files = new ArrayList<>();
        for (Path input : inputs) {
            if (Files.isDirectory(input)) {
                try (Stream<Path> walk = Files.walk(input)) {
                    walk.filter(Files::isRegularFile).sorted().forEach(files::add);
                }
            } else if (Files.isRegularFile(input)) {
                files.add(input);
            } else {
                throw new IllegalArgumentException("input " + input.toAbsolutePath() + " does not exist (or is not a"
                        + " file or directory)");
            }
        }
        for (Path file : files) {
            String name = file.getFileName().toString().toLowerCase(Locale.ROOT).replaceFirst("\\.gz$", "");
            if (name.endsWith(".jsonl") || name.endsWith(".ndjson") || name.endsWith(".json")) {
                throw new IllegalArgumentException("input " + file.toAbsolutePath() + " is JSON by its name: training"
                        + " on it as text would learn the JSON syntax; give plain text files, or add each document's"
                        + " text with BpeTrainer.addText");
            }
        }
        return files;
    }
}
