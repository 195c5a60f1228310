package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.model.internal.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Hugging Face GPT-2 directory: GPT-2's names, shapes and Conv1D layout, and an exact round trip. */
class HuggingFaceGpt2Test {
    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);

    @TempDir
    Path directory;

    /**
     * GPT-2 small (124M) as published: {@code wte.weight} (50257, 768), {@code wpe.weight} (1024, 768), per block
     * {@code ln_1}, {@code attn.c_attn} (768, 2304), {@code attn.c_proj} (768, 768), {@code ln_2}, {@code mlp.c_fc}
     * (768, 3072), {@code mlp.c_proj} (3072, 768), then {@code ln_f}: 124,439,808 parameters.
     */
    private static Map<String, long[]> gpt2Small() {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        shapes.put("transformer.wte.weight", new long[] {50257, 768});
        shapes.put("transformer.wpe.weight", new long[] {1024, 768});
        for (int l = 0; l < 12; l++) {
            String h = "transformer.h." + l + ".";
            shapes.put(h + "ln_1.weight", new long[] {768});
            shapes.put(h + "ln_1.bias", new long[] {768});
            shapes.put(h + "attn.c_attn.weight", new long[] {768, 2304});
            shapes.put(h + "attn.c_attn.bias", new long[] {2304});
            shapes.put(h + "attn.c_proj.weight", new long[] {768, 768});
            shapes.put(h + "attn.c_proj.bias", new long[] {768});
            shapes.put(h + "ln_2.weight", new long[] {768});
            shapes.put(h + "ln_2.bias", new long[] {768});
            shapes.put(h + "mlp.c_fc.weight", new long[] {768, 3072});
            shapes.put(h + "mlp.c_fc.bias", new long[] {3072});
            shapes.put(h + "mlp.c_proj.weight", new long[] {3072, 768});
            shapes.put(h + "mlp.c_proj.bias", new long[] {768});
        }
        shapes.put("transformer.ln_f.weight", new long[] {768});
        shapes.put("transformer.ln_f.bias", new long[] {768});
        return shapes;
    }

    @Test
    void shouldNameAndShapeTheGpt2PresetExactlyAsGpt2SmallIsPublished() {
        Map<String, long[]> ours = HuggingFaceGpt2.tensorShapes(GptConfig.preset("gpt2", 50257));
        Map<String, long[]> published = gpt2Small();
        assertEquals(List.copyOf(published.keySet()), List.copyOf(ours.keySet()));
        long count = 0;
        for (Map.Entry<String, long[]> entry : published.entrySet()) {
            assertArrayEquals(entry.getValue(), ours.get(entry.getKey()), entry.getKey());
            long n = 1;
            for (long d : entry.getValue()) {
                n *= d;
            }
            count += n;
        }
        assertEquals(124_439_808L, count, "GPT-2 small's parameter count");
    }

    @Test
    void shouldWriteGpt2sNamesAndTransposedConv1dLayoutWithATiedHead() throws IOException {
        float[] parameters = numbered(CONFIG);
        HuggingFaceGpt2.write(directory, CONFIG, parameters, 66, Map.of("run", "r1"));
        try (Safetensors.Reader file = Safetensors.open(directory.resolve(HuggingFaceGpt2.MODEL_FILE))) {
            assertEquals("pt", file.metadata().get("format"), "transformers refuses safetensors without format=pt");
            Map<String, long[]> expected = HuggingFaceGpt2.tensorShapes(CONFIG);
            assertEquals(List.copyOf(expected.keySet()), List.copyOf(file.entries().keySet()));
            // c_attn.weight of block 1 is (C, 3C) = our qkv.weight (3C, C) transposed
            int C = CONFIG.channels();
            float[] cAttn = file.readFloats(file.entry("transformer.h.1.attn.c_attn.weight", Safetensors.F32, C, 3L * C));
            int qkv = (int) (ParameterTensor.QKVW.offset(CONFIG) + ParameterTensor.QKVW.layerSize(CONFIG));
            for (int out = 0; out < 3 * C; out++) {
                for (int in = 0; in < C; in++) {
                    assertEquals(parameters[qkv + out * C + in], cAttn[in * 3 * C + out]);
                }
            }
            float[] wte = file.readFloats(file.entry("transformer.wte.weight", Safetensors.F32, 67, C));
            assertEquals(parameters[0], wte[0]);
        }
        JsonNode config = new ObjectMapper().readTree(directory.resolve(HuggingFaceGpt2.CONFIG_FILE).toFile());
        assertEquals("gpt2", config.get("model_type").asText());
        assertEquals("GPT2LMHeadModel", config.get("architectures").get(0).asText());
        assertEquals(67, config.get("vocab_size").asInt());
        assertEquals(16, config.get("n_positions").asInt());
        assertEquals(32, config.get("n_embd").asInt());
        assertEquals(2, config.get("n_layer").asInt());
        assertEquals(4, config.get("n_head").asInt());
        assertEquals("gelu_new", config.get("activation_function").asText());
        assertEquals(66, config.get("eos_token_id").asInt());
        assertEquals("r1", config.get("streamtrain").get("run").asText());
        assertTrue(Files.isRegularFile(directory.resolve(HuggingFaceGpt2.GENERATION_CONFIG_FILE)));
    }

    @Test
    void shouldReadBackBitIdenticalWeightsThatGiveTheSameLogits() throws IOException {
        try (Gpt trained = trainedModel()) {
            float[] parameters = trained.checkpoint(new TokenizerIdentity("t", 67, ""), Map.of()).parameters();
            HuggingFaceGpt2.write(directory, CONFIG, parameters, 66, Map.of());
            HuggingFaceGpt2.Pretrained read = HuggingFaceGpt2.read(directory);
            assertEquals(CONFIG, read.config());
            assertEquals(66, read.endOfTextId());
            assertArrayEquals(bits(parameters), bits(read.parameters()));
            int[] inputs = {1, 5, 9, 64, 3, 3, 0, 66};
            Checkpoint fresh = new Checkpoint(read.config(), new TokenizerIdentity("t", 67, ""), 0, 1,
                    read.parameters(), new float[parameters.length], new float[parameters.length], Map.of());
            try (Gpt loaded = Gpt.restore(fresh, new CpuKernels(1), TrainingOptions.defaults())) {
                assertArrayEquals(bits(trained.logits(inputs, 2, 4)), bits(loaded.logits(inputs, 2, 4)));
            }
        }
    }

    @Test
    void shouldReadTheHubLayoutWithoutPrefixWithATiedHeadAndMaskBuffers() throws IOException {
        float[] parameters = numbered(CONFIG);
        HuggingFaceGpt2.write(directory, CONFIG, parameters, 66, Map.of());
        Path hub = directory.resolve("hub");
        rewrite(directory, hub, true);
        assertArrayEquals(bits(parameters), bits(HuggingFaceGpt2.read(hub).parameters()));
    }

    @Test
    void shouldRefuseAnUntiedHeadAndAConfigOurKernelsDoNotCompute() throws IOException {
        HuggingFaceGpt2.write(directory, CONFIG, numbered(CONFIG), 66, Map.of());
        Path untied = directory.resolve("untied");
        rewrite(directory, untied, false);
        IOException head = assertThrows(IOException.class, () -> HuggingFaceGpt2.read(untied));
        assertTrue(head.getMessage().contains("not tied"), head.getMessage());

        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(directory.resolve(HuggingFaceGpt2.CONFIG_FILE).toFile());
        config.put("activation_function", "relu");
        json.writeValue(directory.resolve(HuggingFaceGpt2.CONFIG_FILE).toFile(), config);
        IOException activation = assertThrows(IOException.class, () -> HuggingFaceGpt2.read(directory));
        assertTrue(activation.getMessage().contains("activation_function is 'relu'"), activation.getMessage());
    }

    /** Copies an export the way the hub stores GPT-2: no prefix, mask buffers, and an lm_head (tied or not). */
    private static void rewrite(Path from, Path to, boolean tied) throws IOException {
        Files.createDirectories(to);
        Files.copy(from.resolve(HuggingFaceGpt2.CONFIG_FILE), to.resolve(HuggingFaceGpt2.CONFIG_FILE));
        List<Safetensors.Source> sources = new ArrayList<>();
        try (Safetensors.Reader file = Safetensors.open(from.resolve(HuggingFaceGpt2.MODEL_FILE))) {
            for (Safetensors.Entry entry : file.entries().values()) {
                float[] values = file.readFloats(entry);
                sources.add(Safetensors.Source.floats(entry.name().substring("transformer.".length()), entry.shape(),
                        values, 0));
                if (entry.name().equals("transformer.wte.weight")) {
                    float[] head = values.clone();
                    if (!tied) {
                        head[3] += 1f;
                    }
                    sources.add(Safetensors.Source.floats("lm_head.weight", entry.shape(), head, 0));
                }
            }
        }
        sources.add(Safetensors.Source.floats("h.0.attn.bias", new long[] {1, 1, 16, 16}, new float[256], 0));
        Safetensors.write(to.resolve(HuggingFaceGpt2.MODEL_FILE), Map.of("format", "pt"), sources);
    }

    private static Gpt trainedModel() {
        Gpt gpt = Gpt.initialize(CONFIG, new CpuKernels(1), TrainingOptions.defaults(), 7);
        int[] tokens = new int[2 * 9];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 7) % 67;
        }
        for (int step = 0; step < 3; step++) {
            gpt.trainStep(tokens, 2, 8);
        }
        return gpt;
    }

    /** Every element distinct (its index), wte's padding rows zero. */
    private static float[] numbered(GptConfig config) {
        float[] values = new float[(int) config.parameterCount()];
        int paddingStart = config.vocabularySize() * config.channels();
        int paddingEnd = config.paddedVocabularySize() * config.channels();
        for (int i = 0; i < values.length; i++) {
            values[i] = i >= paddingStart && i < paddingEnd ? 0f : i;
        }
        return values;
    }

    private static int[] bits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
