package io.streamtrain.tokenizer.internal;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Base64;
import java.util.BitSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A trained vocabulary on disk, tiktoken's format with one header line:
 * <pre>
 * #streamtrain-bpe version=1 vocabulary_size=2048 end_of_text=2047 pattern=gpt2
 * AA== 0
 * AQ== 1
 * ...
 * IHRo 256          (base64 of the token's bytes, space, rank; ranks 0..V-2 in order)
 * </pre>
 * Ranks 0..255 are the single bytes (a reader needs only that all 256 appear); end-of-text is the last id, V-1, and has
 * no line. A file without the header (a plain tiktoken file) is read too: then V is the number of ranks + 1.
 */
public final class VocabularyFile {
    public static final String HEADER_PREFIX = "#streamtrain-bpe";
    private static final int VERSION = 1;

    private VocabularyFile() {}

    /** Writes {@code ranks} to {@code file} atomically (a temporary file beside it, then a move). */
    public static void write(Path file, byte[][] ranks) throws IOException {
        Path absolute = file.toAbsolutePath();
        Path directory = absolute.getParent();
        Files.createDirectories(directory);
        // Not Files.createTempFile: its files are private (0600); a vocabulary is shared like any other file.
        Path temporary = Files.createFile(directory.resolve(absolute.getFileName() + "." + ProcessHandle.current().pid()
                + "-" + System.nanoTime() + ".tmp"));
        try {
            try (BufferedWriter out = Files.newBufferedWriter(temporary, StandardCharsets.UTF_8)) {
                out.write(HEADER_PREFIX + " version=" + VERSION + " vocabulary_size=" + (ranks.length + 1)
                        + " end_of_text=" + ranks.length + " pattern=gpt2\n");
                Base64.Encoder base64 = Base64.getEncoder();
                for (int rank = 0; rank < ranks.length; rank++) {
                    out.write(base64.encodeToString(ranks[rank]));
                    out.write(' ');
                    out.write(Integer.toString(rank));
                    out.write('\n');
                }
            }
            Files.move(temporary, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temporary);
        }
    }

    /**
     * Reads the ranks of {@code file}; every problem is an IllegalArgumentException naming the file and line (a
     * missing or unreadable file too).
     */
    public static byte[][] read(Path file) {
        List<byte[]> ranks = new ArrayList<>();
        int declaredSize = -1;
        Set<String> seen = new HashSet<>();
        BitSet singleBytes = new BitSet(256);
        Base64.Decoder base64 = Base64.getDecoder();
        int lineNumber = 0;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line; (line = in.readLine()) != null; ) {
                lineNumber++;
                if (lineNumber == 1 && line.startsWith(HEADER_PREFIX)) {
                    declaredSize = parseHeader(file, line);
                    continue;
                }
                if (line.isEmpty()) {
                    continue;
                }
                String[] fields = line.split(" ");
                if (fields.length != 2) {
                    throw bad(file, lineNumber, "expected \"<base64 token bytes> <rank>\", got \"" + abbreviate(line) + "\"");
                }
                byte[] token;
                int rank;
                try {
                    token = base64.decode(fields[0]);
                } catch (IllegalArgumentException e) {
                    throw bad(file, lineNumber, "\"" + abbreviate(fields[0]) + "\" is not base64 (" + e.getMessage() + ")");
                }
                try {
                    rank = Integer.parseInt(fields[1]);
                } catch (NumberFormatException e) {
                    throw bad(file, lineNumber, "rank \"" + abbreviate(fields[1]) + "\" is not an integer");
                }
                if (rank != ranks.size()) {
                    throw bad(file, lineNumber, "rank " + rank + " out of order: expected " + ranks.size()
                            + " (ranks are 0, 1, 2, ... one per line)");
                }
                if (token.length == 0) {
                    throw bad(file, lineNumber, "token of rank " + rank + " is empty");
                }
                if (token.length == 1) {
                    singleBytes.set(token[0] & 0xff);
                }
                if (!seen.add(Base64.getEncoder().encodeToString(token))) {
                    throw bad(file, lineNumber, "token " + fields[0] + " (rank " + rank + ") appears twice");
                }
                ranks.add(token);
            }
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("vocabulary file " + file.toAbsolutePath() + " does not exist; train one"
                    + " with `streamtrain tokenizer train --input ... --vocab-size N --out " + file + "`", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read vocabulary file " + file.toAbsolutePath() + ": " + e, e);
        }
        if (singleBytes.cardinality() < 256) {
            throw new IllegalArgumentException("vocabulary file " + file.toAbsolutePath() + " lacks the single byte "
                    + singleBytes.nextClearBit(0) + " (and " + (255 - singleBytes.cardinality()) + " more): a byte-level"
                    + " vocabulary holds all 256 single bytes, so that any text can be encoded");
        }
        if (declaredSize >= 0 && declaredSize != ranks.size() + 1) {
            throw new IllegalArgumentException("vocabulary file " + file.toAbsolutePath() + " declares vocabulary_size="
                    + declaredSize + " in its header but holds " + ranks.size() + " ranks + end-of-text = "
                    + (ranks.size() + 1) + " ids: the file is truncated or was edited");
        }
        return ranks.toArray(new byte[0][]);
    }

    /** The declared vocabulary size of a header line. */
    private static int parseHeader(Path file, String line) {
        int size = -1;
        for (String field : line.substring(HEADER_PREFIX.length()).trim().split("\\s+")) {
            String[] keyValue = field.split("=", 2);
            if (keyValue.length != 2) {
                throw bad(file, 1, "header field \"" + field + "\" is not key=value");
            }
            switch (keyValue[0]) {
                case "version" -> {
                    if (!keyValue[1].equals(Integer.toString(VERSION))) {
                        throw bad(file, 1, "format version " + keyValue[1] + " is not supported (this reader knows "
                                + VERSION + "); use the streamtrain version that wrote it");
                    }
                }
                case "vocabulary_size" -> size = parsePositive(file, keyValue);
                case "pattern" -> {
                    if (!keyValue[1].equals("gpt2")) {
                        throw bad(file, 1, "pre-tokenization pattern " + keyValue[1] + " is not supported (only gpt2)");
                    }
                }
                default -> { } // end_of_text is implied by the size; unknown keys are informative only
            }
        }
        return size;
    }

    private static int parsePositive(Path file, String[] keyValue) {
        try {
            int value = Integer.parseInt(keyValue[1]);
            if (value > 0) {
                return value;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw bad(file, 1, "header " + keyValue[0] + "=" + keyValue[1] + " is not a positive integer");
    }

    private static IllegalArgumentException bad(Path file, int lineNumber, String what) {
        return new IllegalArgumentException("vocabulary file " + file.toAbsolutePath() + ", line " + lineNumber + ": "
                + what);
    }

    private static String abbreviate(String text) {
        return text.length() <= 60 ? text : text.substring(0, 57) + "...";
    }
}
