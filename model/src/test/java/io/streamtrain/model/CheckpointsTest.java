package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.internal.SplitMix64;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointsTest {

    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("byte", 67, "sha256:0123");

    @TempDir
    Path directory;

    /** Random parameters and moments (wte's padding rows zero, as a model keeps them), step, rng and metadata. */
    private static Checkpoint randomCheckpoint(long seed) {
        int n = (int) CONFIG.parameterCount();
        SplitMix64 rng = new SplitMix64(seed);
        float[][] arrays = new float[3][n];
        int paddingStart = CONFIG.vocabularySize() * CONFIG.channels();
        int paddingEnd = CONFIG.paddedVocabularySize() * CONFIG.channels();
        for (float[] array : arrays) {
            for (int i = 0; i < n; i++) {
                array[i] = i >= paddingStart && i < paddingEnd ? 0f : (float) rng.nextGaussian();
            }
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("kafka.offsets.tokens-0", "12345");
        metadata.put("note", "unicode ✓ \"quoted\"\n");
        return new Checkpoint(CONFIG, TOKENIZER, 42, -7_000_000_000_123L, arrays[0], arrays[1], arrays[2], metadata);
    }

    @Test
    void shouldRoundTripEveryFieldBitExactly() throws IOException {
        Checkpoint written = randomCheckpoint(1);
        Path file = directory.resolve("model.safetensors");
        Checkpoints.write(file, written);

        Checkpoint read = Checkpoints.read(file, CONFIG, TOKENIZER);

        assertEquals(written.config(), read.config());
        assertEquals(written.tokenizer(), read.tokenizer());
        assertEquals(42, read.step());
        assertEquals(-7_000_000_000_123L, read.rngState());
        assertEquals(written.metadata(), read.metadata());
        assertBitEqual(written.parameters(), read.parameters());
        assertBitEqual(written.m(), read.m());
        assertBitEqual(written.v(), read.v());
    }

    private static void assertBitEqual(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError("element " + i + ": " + actual[i] + " != " + expected[i]);
            }
        }
    }

    @Test
    void shouldReplaceAnExistingFileAndLeaveNoTemporaryFiles() throws IOException {
        Path file = directory.resolve("model.safetensors");
        Checkpoints.write(file, randomCheckpoint(1));
        Checkpoint second = randomCheckpoint(2);
        Checkpoints.write(file, second);

        assertBitEqual(second.parameters(), Checkpoints.read(file).parameters());
        try (Stream<Path> files = Files.list(directory)) {
            assertEquals(java.util.List.of(file), files.toList());
        }
    }

    @Test
    void shouldWriteReferenceStateDictNamesAndShapes() throws IOException {
        Path file = directory.resolve("model.safetensors");
        Checkpoints.write(file, randomCheckpoint(1));
        String header = header(Files.readAllBytes(file));

        assertTrue(header.contains("\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[67,32]"), header);
        assertTrue(header.contains("\"head.weight\":{\"dtype\":\"F32\",\"shape\":[67,32]"), header);
        assertTrue(header.contains("\"blocks.1.qkv.weight\":{\"dtype\":\"F32\",\"shape\":[96,32]"), header);
        assertTrue(header.contains("\"blocks.0.out.weight\":{\"dtype\":\"F32\",\"shape\":[32,128]"), header);
        assertTrue(header.contains("\"adamw.v.ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[32]"), header);
        assertTrue(header.contains("\"meta.kafka.offsets.tokens-0\":\"12345\""), header);
    }

    private static String header(byte[] bytes) {
        long length = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(bytes, 8, (int) length, StandardCharsets.UTF_8);
    }

    /** Writes a checkpoint, damages its bytes, and returns why reading it fails. */
    private CheckpointException refusalOf(UnaryOperator<byte[]> damage) throws IOException {
        Path file = directory.resolve("model.safetensors");
        Checkpoints.write(file, randomCheckpoint(1));
        Files.write(file, damage.apply(Files.readAllBytes(file)));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoints.read(file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        return e;
    }

    @Test
    void shouldRefuseATruncatedFile() throws IOException {
        String message = refusalOf(bytes -> Arrays.copyOf(bytes, bytes.length - 100)).getMessage();
        assertTrue(message.contains("truncated"), message);
    }

    @Test
    void shouldRefuseAFileCutInsideTheHeader() throws IOException {
        String message = refusalOf(bytes -> Arrays.copyOf(bytes, 200)).getMessage();
        assertTrue(message.contains("header length"), message);
    }

    @Test
    void shouldRefuseAFlippedByteInTheData() throws IOException {
        String message = refusalOf(bytes -> {
            bytes[bytes.length - 1000] ^= 0x10;
            return bytes;
        }).getMessage();
        assertTrue(message.contains("CRC32C") && message.contains("corrupted"), message);
    }

    @Test
    void shouldRefuseAHeaderThatIsNotJson() throws IOException {
        String message = refusalOf(bytes -> {
            bytes[8] = 'x'; // the opening brace
            return bytes;
        }).getMessage();
        assertTrue(message.contains("not valid JSON"), message);
    }

    @Test
    void shouldRefuseAHeaderWhoseOffsetsDoNotTileTheData() throws IOException {
        String message = refusalOf(bytes -> {
            String header = header(bytes);
            String damaged = header.replaceFirst("\"data_offsets\":\\[0,", "\"data_offsets\":[4,"); // same length
            assertEquals(header.length(), damaged.length());
            byte[] damagedBytes = damaged.getBytes(StandardCharsets.UTF_8);
            System.arraycopy(damagedBytes, 0, bytes, 8, damagedBytes.length);
            return bytes;
        }).getMessage();
        assertTrue(message.contains("data_offsets"), message);
    }

    @Test
    void shouldRefuseAFileThatIsNotACheckpoint() throws IOException {
        Path file = directory.resolve("notes.txt");
        Files.writeString(file, "hello");

        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoints.read(file));
        assertTrue(e.getMessage().contains("notes.txt"), e.getMessage());
    }

    @Test
    void shouldListEveryDifferingFieldWhenConfigAndTokenizerDoNotMatch() throws IOException {
        Path file = directory.resolve("model.safetensors");
        Checkpoints.write(file, randomCheckpoint(1));
        GptConfig other = GptConfig.of(67, 32, 32, 3, 4);
        TokenizerIdentity otherTokenizer = new TokenizerIdentity("cl100k_base", 67, "sha256:0123");

        CheckpointException e = assertThrows(CheckpointException.class,
                () -> Checkpoints.read(file, other, otherTokenizer));

        String message = e.getMessage();
        assertTrue(message.contains("config.context_length is '16' in the checkpoint, '32' expected"), message);
        assertTrue(message.contains("config.layers is '2' in the checkpoint, '3' expected"), message);
        assertTrue(message.contains("tokenizer.name is 'byte' in the checkpoint, 'cl100k_base' expected"), message);
        assertTrue(!message.contains("config.channels") && !message.contains("tokenizer.fingerprint"), message);
    }
}
