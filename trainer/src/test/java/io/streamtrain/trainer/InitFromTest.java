package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.HuggingFaceGpt2;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.tokenizer.HuggingFaceTokenizerFiles;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code init.from}: a new run from a Hugging Face GPT-2 directory, here an export of a trained model. */
class InitFromTest {
    private static final int B = 2;
    private static final int T = 16;
    private static final GptConfig SHAPE = GptConfig.of(257, 32, 32, 2, 4); // not a preset: the directory decides
    private static final Tokenizer BYTE = Tokenizers.open("byte");

    @TempDir
    Path dir;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);

    @Test
    void shouldStartFromAnExportWithBitIdenticalWeightsTheSameLogitsAndAFreshOptimizer() throws IOException {
        Path export = dir.resolve("export");
        int[] inputs = {72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 256, 0};
        try (Gpt source = trained()) {
            Checkpoint state = source.checkpoint(identity(), Map.of());
            HuggingFaceGpt2.write(export, SHAPE, state.parameters(), BYTE.endOfText(),
                    Map.of("tokenizer.name", BYTE.name(), "tokenizer.fingerprint", BYTE.fingerprint()));
            HuggingFaceTokenizerFiles.write(BYTE, SHAPE.contextLength(), export);

            Path written;
            try (ResidentModel model = open(TrainerConfig.INIT_FROM, export.toString())) {
                assertEquals(SHAPE, model.config());
                assertEquals(0, model.step());
                written = model.checkpoint();
            }
            Checkpoint started = Checkpoints.read(written);
            assertArrayEquals(bits(state.parameters()), bits(started.parameters()), "bit-identical weights");
            assertArrayEquals(new float[state.m().length], started.m(), "fresh AdamW moments");
            assertArrayEquals(new float[state.v().length], started.v(), "fresh AdamW moments");
            assertEquals(0, started.step());
            try (Gpt loaded = Gpt.restore(started, new CpuKernels(1), TrainingOptions.defaults())) {
                assertArrayEquals(bits(source.logits(inputs, 2, 8)), bits(loaded.logits(inputs, 2, 8)), "same logits");
            }
        }
        String printed = out.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("tokenizer byte matches the directory's tokenizer files"), printed);

        // a restart resumes from the run's checkpoint, whose shape is the directory's, not the preset's
        try (ResidentModel resumed = open(TrainerConfig.INIT_FROM, export.toString())) {
            assertEquals(SHAPE, resumed.config());
            assertTrue(resumed.restoredFrom().isPresent());
        }
    }

    @Test
    void shouldRefuseADirectoryMadeForAnotherTokenizer() throws IOException {
        Path export = dir.resolve("export");
        try (Gpt source = trained()) {
            HuggingFaceGpt2.write(export, SHAPE, source.checkpoint(identity(), Map.of()).parameters(), 256,
                    Map.of("tokenizer.name", "bpe:other.bpe", "tokenizer.fingerprint", "0123"));
        }
        IllegalStateException fingerprint = assertThrows(IllegalStateException.class,
                () -> open(TrainerConfig.INIT_FROM, export.toString()));
        assertTrue(fingerprint.getMessage().contains("trained with tokenizer bpe:other.bpe"), fingerprint.getMessage());

        IllegalStateException vocabulary = assertThrows(IllegalStateException.class,
                () -> open(TrainerConfig.INIT_FROM, export.toString(), TrainerConfig.TOKENIZER, "gpt2"));
        assertTrue(vocabulary.getMessage().contains("is a model of 257 token ids"), vocabulary.getMessage());
    }

    private ResidentModel open(Object... overrides) throws IOException {
        return ResidentModel.open(new TrainerConfig(TestBatches.config(dir.resolve("run"), B, T, overrides)), log);
    }

    private static Gpt trained() {
        Gpt gpt = Gpt.initialize(SHAPE, new CpuKernels(1), TrainingOptions.defaults(), 3);
        int[] tokens = new int[B * (T + 1)];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = 32 + (i * 13) % 90;
        }
        for (int step = 0; step < 3; step++) {
            gpt.trainStep(tokens, B, T);
        }
        return gpt;
    }

    private static TokenizerIdentity identity() {
        return new TokenizerIdentity(BYTE.name(), BYTE.vocabularySize(), BYTE.fingerprint());
    }

    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
