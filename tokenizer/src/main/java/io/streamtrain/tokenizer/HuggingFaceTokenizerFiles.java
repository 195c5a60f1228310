package io.streamtrain.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.tokenizer.internal.TokenTable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Our tokenizers as Hugging Face tokenizer files, and the check that a directory's tokenizer files describe the same
 * vocabulary as one of ours.
 *
 * <p>Every tokenizer of ours is byte-level BPE with GPT-2's pre-tokenization: ids are ranks of byte strings, the
 * end-of-text id last. {@link #write} writes {@code tokenizer.json} (the {@code tokenizers} library's format: a BPE
 * model with a ByteLevel pre-tokenizer and decoder, end-of-text as a special added token), {@code tokenizer_config.json}
 * and {@code special_tokens_map.json}; for the {@code gpt2} tokenizer also GPT-2's own {@code vocab.json} and
 * {@code merges.txt}. The merges are derived from the ranks the way {@code transformers} converts tiktoken
 * vocabularies: each multi-byte token is the pair that BPE with the lower ranks alone leaves of its bytes.
 * For {@code byte} there are no merges: every byte is its own token.
 */
public final class HuggingFaceTokenizerFiles {
    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String VOCAB_JSON = "vocab.json";
    public static final String MERGES_TXT = "merges.txt";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final char[] BYTE_TO_CHAR = byteToChar();
    private static final Map<Character, Integer> CHAR_TO_BYTE = charToByte();

    private HuggingFaceTokenizerFiles() {}

    /**
     * Writes the tokenizer files of {@code tokenizer} into {@code directory} (created when missing).
     *
     * @param modelMaxLength the model's context length, {@code model_max_length} of the tokenizer config
     * @return the names of the files written
     */
    public static List<String> write(Tokenizer tokenizer, int modelMaxLength, Path directory) throws IOException {
        TokenTable table = tableOf(tokenizer);
        Files.createDirectories(directory);
        int endOfText = tokenizer.endOfText();
        ObjectNode vocab = JSON.createObjectNode();
        for (int id = 0; id < endOfText; id++) {
            vocab.put(tokenString(table.bytes(id)), id);
        }
        vocab.put(Tokenizer.END_OF_TEXT, endOfText);
        List<String> merges = merges(table, endOfText);
        List<String> written = new ArrayList<>();

        ObjectNode json = JSON.createObjectNode();
        json.put("version", "1.0");
        json.putNull("truncation");
        json.putNull("padding");
        ObjectNode special = json.putArray("added_tokens").addObject();
        special.put("id", endOfText);
        special.put("content", Tokenizer.END_OF_TEXT);
        special.put("single_word", false);
        special.put("lstrip", false);
        special.put("rstrip", false);
        special.put("normalized", true);
        special.put("special", true);
        json.putNull("normalizer");
        byteLevel(json.putObject("pre_tokenizer"), false, true);
        byteLevel(json.putObject("post_processor"), true, false);
        byteLevel(json.putObject("decoder"), true, true);
        ObjectNode model = json.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.set("vocab", vocab);
        ArrayNode mergeList = model.putArray("merges");
        merges.forEach(mergeList::add);
        writeJson(directory, TOKENIZER_JSON, json, written);

        boolean gpt2 = tokenizer.name().equals(Gpt2Tokenizer.NAME);
        if (gpt2) {
            writeJson(directory, VOCAB_JSON, vocab, written);
            StringBuilder text = new StringBuilder("#version: 0.2\n");
            merges.forEach(merge -> text.append(merge).append('\n'));
            Files.writeString(directory.resolve(MERGES_TXT), text, StandardCharsets.UTF_8);
            written.add(MERGES_TXT);
        }
        ObjectNode config = JSON.createObjectNode();
        config.put("tokenizer_class", gpt2 ? "GPT2Tokenizer" : "PreTrainedTokenizerFast");
        config.put("model_max_length", modelMaxLength);
        config.put("add_prefix_space", false);
        config.put("clean_up_tokenization_spaces", false);
        specialTokens(config);
        config.put("streamtrain_tokenizer", tokenizer.name());
        config.put("streamtrain_fingerprint", tokenizer.fingerprint());
        writeJson(directory, TOKENIZER_CONFIG, config, written);
        writeJson(directory, SPECIAL_TOKENS_MAP, specialTokens(JSON.createObjectNode()), written);
        return written;
    }

    /**
     * Checks the tokenizer files of {@code directory} ({@code tokenizer.json}, else {@code vocab.json}) against
     * {@code tokenizer}: the same number of ids, the same bytes for every id, end-of-text at the same id.
     *
     * @return true when the files were checked and match; false when the directory has no tokenizer files
     * @throws IllegalArgumentException naming the first ids that differ, when they do not match
     * @throws IOException              when a file cannot be read or parsed
     */
    public static boolean check(Tokenizer tokenizer, Path directory) throws IOException {
        Path file;
        JsonNode vocab;
        List<JsonNode> added = new ArrayList<>();
        if (Files.isRegularFile(directory.resolve(TOKENIZER_JSON))) {
            file = directory.resolve(TOKENIZER_JSON);
            JsonNode root = JSON.readTree(file.toFile());
            vocab = root.path("model").path("vocab");
            root.path("added_tokens").forEach(added::add);
        } else if (Files.isRegularFile(directory.resolve(VOCAB_JSON))) {
            file = directory.resolve(VOCAB_JSON);
            vocab = JSON.readTree(file.toFile());
        } else {
            return false;
        }
        if (!vocab.isObject()) {
            throw new IOException(file + " has no vocabulary object (model.vocab of tokenizer.json, or vocab.json)");
        }
        Map<Integer, String> tokens = new HashMap<>();
        vocab.properties().forEach(entry -> tokens.put(entry.getValue().asInt(), entry.getKey()));
        for (JsonNode token : added) {
            tokens.put(token.path("id").asInt(), token.path("content").asText());
        }
        TokenTable table = tableOf(tokenizer);
        List<String> differences = new ArrayList<>();
        if (tokens.size() != tokenizer.vocabularySize()) {
            differences.add("it has " + tokens.size() + " ids, " + tokenizer.name() + " has "
                    + tokenizer.vocabularySize());
        }
        for (int id = 0; id < tokenizer.vocabularySize() && differences.size() < 5; id++) {
            String token = tokens.get(id);
            boolean same = id == tokenizer.endOfText() ? Tokenizer.END_OF_TEXT.equals(token)
                    : token != null && Arrays.equals(table.bytes(id), bytesOf(token));
            if (!same) {
                differences.add("id " + id + " is " + (token == null ? "missing" : "'" + token + "'") + " there but '"
                        + (id == tokenizer.endOfText() ? Tokenizer.END_OF_TEXT : tokenString(table.bytes(id)))
                        + "' in " + tokenizer.name());
            }
        }
        if (!differences.isEmpty()) {
            throw new IllegalArgumentException("the tokenizer of " + directory + " (" + file.getFileName()
                    + ") is not " + tokenizer + ": " + String.join("; ", differences)
                    + "; train with the tokenizer the model was made with");
        }
        return true;
    }

    // ---- merges --------------------------------------------------------------------------------

    /** "left right" for every multi-byte token in rank order: the two parts BPE with lower ranks leaves of it. */
    private static List<String> merges(TokenTable table, int ranks) {
        Map<String, Integer> rankOf = new HashMap<>(ranks * 2);
        for (int id = 0; id < ranks; id++) {
            rankOf.put(key(table.bytes(id)), id);
        }
        List<String> merges = new ArrayList<>();
        for (int rank = 0; rank < ranks; rank++) {
            byte[] token = table.bytes(rank);
            if (token.length < 2) {
                continue;
            }
            List<byte[]> parts = lowerRankBpe(token, rank, rankOf);
            if (parts.size() != 2) {
                parts = anySplit(token, rank, rankOf);
            }
            merges.add(tokenString(parts.get(0)) + " " + tokenString(parts.get(1)));
        }
        return merges;
    }

    /** BPE of {@code token}'s bytes with the ranks below {@code maxRank}: merges the lowest-ranked pair until none. */
    private static List<byte[]> lowerRankBpe(byte[] token, int maxRank, Map<String, Integer> rankOf) {
        List<byte[]> parts = new ArrayList<>();
        for (byte b : token) {
            parts.add(new byte[] {b});
        }
        while (parts.size() > 1) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer rank = rankOf.get(key(concat(parts.get(i), parts.get(i + 1))));
                if (rank != null && rank < bestRank) {
                    best = i;
                    bestRank = rank;
                }
            }
            if (best < 0 || bestRank >= maxRank) {
                break;
            }
            parts.set(best, concat(parts.get(best), parts.remove(best + 1)));
        }
        return parts;
    }

    /** A split of {@code token} into two tokens of lower rank, for the rare token BPE does not leave in two parts. */
    private static List<byte[]> anySplit(byte[] token, int rank, Map<String, Integer> rankOf) {
        for (int i = 1; i < token.length; i++) {
            byte[] left = Arrays.copyOfRange(token, 0, i);
            byte[] right = Arrays.copyOfRange(token, i, token.length);
            Integer l = rankOf.get(key(left));
            Integer r = rankOf.get(key(right));
            if (l != null && r != null && l < rank && r < rank) {
                return List.of(left, right);
            }
        }
        throw new IllegalStateException("token of rank " + rank + " is no pair of lower-ranked tokens: the vocabulary"
                + " is not byte-level BPE");
    }

    private static String key(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] joined = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, joined, a.length, b.length);
        return joined;
    }

    // ---- GPT-2's byte-level alphabet ------------------------------------------------------------

    /** GPT-2's {@code bytes_to_unicode}: printable bytes stand for themselves, the others for chars from U+0100. */
    private static char[] byteToChar() {
        char[] chars = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[b] = printable ? (char) b : (char) next++;
        }
        return chars;
    }

    private static Map<Character, Integer> charToByte() {
        Map<Character, Integer> map = new HashMap<>();
        for (int b = 0; b < 256; b++) {
            map.put(BYTE_TO_CHAR[b], b);
        }
        return map;
    }

    /** The byte-level string of a token's bytes, as GPT-2's vocab.json spells it. */
    static String tokenString(byte[] bytes) {
        StringBuilder text = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            text.append(BYTE_TO_CHAR[b & 0xff]);
        }
        return text.toString();
    }

    /** The bytes of a byte-level token string; null when a char is outside the byte-level alphabet. */
    private static byte[] bytesOf(String token) {
        byte[] bytes = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            Integer b = CHAR_TO_BYTE.get(token.charAt(i));
            if (b == null) {
                return null;
            }
            bytes[i] = (byte) (int) b;
        }
        return bytes;
    }

    // ---- JSON ----------------------------------------------------------------------------------

    private static void byteLevel(ObjectNode node, boolean addPrefixSpace, boolean trimOffsets) {
        node.put("type", "ByteLevel");
        node.put("add_prefix_space", addPrefixSpace);
        node.put("trim_offsets", trimOffsets);
        node.put("use_regex", true);
    }

    private static ObjectNode specialTokens(ObjectNode node) {
        node.put("bos_token", Tokenizer.END_OF_TEXT);
        node.put("eos_token", Tokenizer.END_OF_TEXT);
        node.put("unk_token", Tokenizer.END_OF_TEXT);
        return node;
    }

    private static void writeJson(Path directory, String name, JsonNode json, List<String> written) throws IOException {
        JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValue(directory.resolve(name).toFile(), json);
        written.add(name);
    }

    private static TokenTable tableOf(Tokenizer tokenizer) {
        if (!(tokenizer instanceof TableTokenizer table)) {
            throw new IllegalArgumentException("tokenizer " + tokenizer.name() + " is not one of streamtrain's byte-level"
                    + " tokenizers (byte, gpt2, bpe:FILE)");
        }
        return table.table;
    }
}
