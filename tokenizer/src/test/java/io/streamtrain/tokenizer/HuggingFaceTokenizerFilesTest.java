package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.tokenizer.internal.Gpt2Pattern;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hugging Face tokenizer files of our tokenizers: GPT-2's own files for gpt2, and encoding alike from the files. */
class HuggingFaceTokenizerFilesTest {
    private static final String TEXT = Corpus.VERSE + " Don't stop: 1234 naïve café — ünïcödé 🙂 \t\n  spaces   end.";

    @TempDir
    Path directory;

    @Test
    void shouldWriteGpt2sOwnVocabularyAndMergesForTheGpt2Tokenizer() throws IOException {
        List<String> written = HuggingFaceTokenizerFiles.write(Gpt2Tokenizer.get(), 1024, directory);
        assertTrue(written.containsAll(List.of("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                "special_tokens_map.json")), written.toString());
        JsonNode vocab = new ObjectMapper().readTree(directory.resolve("vocab.json").toFile());
        assertEquals(50257, vocab.size());
        assertEquals(0, vocab.get("!").asInt());
        assertEquals(262, vocab.get("\u0120the").asInt(), "GPT-2's 'Ġthe'");
        assertEquals(50256, vocab.get("<|endoftext|>").asInt());
        List<String> merges = Files.readAllLines(directory.resolve("merges.txt"), StandardCharsets.UTF_8);
        assertEquals(List.of("#version: 0.2", "\u0120 t", "\u0120 a", "h e", "i n", "r e", "o n"), merges.subList(0, 7),
                "the first merges of GPT-2's merges.txt");
        assertEquals(50000 + 1, merges.size(), "GPT-2 has 50,000 merges");
        JsonNode config = new ObjectMapper().readTree(directory.resolve("tokenizer_config.json").toFile());
        assertEquals("GPT2Tokenizer", config.get("tokenizer_class").asText());
        assertEquals(1024, config.get("model_max_length").asInt());
    }

    @Test
    void shouldEncodeFromTheWrittenFilesExactlyAsEachTokenizerDoes() throws IOException {
        Path corpus = Corpus.write(directory.resolve("corpus.txt"), 20);
        Path vocabulary = directory.resolve("verse.bpe");
        BpeTrainer.train(List.of(corpus), 400, vocabulary, BpeTrainer.Progress.NONE);
        for (Tokenizer tokenizer : List.of(new ByteTokenizer(), Gpt2Tokenizer.get(),
                TrainedBpeTokenizer.load(vocabulary))) {
            Path files = directory.resolve(tokenizer.name().replace(':', '-'));
            HuggingFaceTokenizerFiles.write(tokenizer, 256, files);
            assertArrayEquals(tokenizer.encode(TEXT), encodeWithTokenizerJson(files.resolve("tokenizer.json"), TEXT),
                    tokenizer.name());
            assertTrue(HuggingFaceTokenizerFiles.check(tokenizer, files), tokenizer.name());
        }
    }

    @Test
    void shouldRefuseAnotherVocabularyNamingTheIdsAndSayWhenThereAreNoFiles() throws IOException {
        assertFalse(HuggingFaceTokenizerFiles.check(new ByteTokenizer(), directory));
        HuggingFaceTokenizerFiles.write(Gpt2Tokenizer.get(), 1024, directory);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> HuggingFaceTokenizerFiles.check(new ByteTokenizer(), directory));
        assertTrue(e.getMessage().contains("it has 50257 ids, byte has 257"), e.getMessage());
        assertTrue(e.getMessage().contains("id 0 is '!' there"), e.getMessage());
    }

    /**
     * The {@code tokenizers} library's algorithm on our tokenizer.json: GPT-2's pre-tokenization, bytes to GPT-2's
     * byte-level chars, then merge the adjacent pair of lowest merge rank until none applies; ids from the vocab.
     */
    private static int[] encodeWithTokenizerJson(Path file, String text) throws IOException {
        JsonNode model = new ObjectMapper().readTree(file.toFile()).get("model");
        Map<String, Integer> vocab = new HashMap<>();
        model.get("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        Map<String, Integer> mergeRank = new HashMap<>();
        for (int i = 0; i < model.get("merges").size(); i++) {
            mergeRank.put(model.get("merges").get(i).asText(), i);
        }
        List<Integer> ids = new ArrayList<>();
        Matcher pieces = Gpt2Pattern.PATTERN.matcher(text);
        while (pieces.find()) {
            String chars = HuggingFaceTokenizerFiles.tokenString(pieces.group().getBytes(StandardCharsets.UTF_8));
            List<String> parts = new ArrayList<>();
            chars.codePoints().forEach(c -> parts.add(new String(Character.toChars(c))));
            while (parts.size() > 1) {
                int best = -1;
                int bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < parts.size(); i++) {
                    Integer rank = mergeRank.get(parts.get(i) + " " + parts.get(i + 1));
                    if (rank != null && rank < bestRank) {
                        best = i;
                        bestRank = rank;
                    }
                }
                if (best < 0) {
                    break;
                }
                parts.set(best, parts.get(best) + parts.remove(best + 1));
            }
            for (String part : parts) {
                ids.add(vocab.get(part));
            }
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }
}
