package io.streamtrain.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.model.internal.Safetensors;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;

/**
 * The model as a Hugging Face {@code transformers} GPT-2 directory, both ways: {@code config.json}
 * ({@code GPT2LMHeadModel}, {@code model_type} gpt2), {@code generation_config.json} and {@code model.safetensors}
 * under GPT-2's tensor names, which {@code AutoModelForCausalLM.from_pretrained(dir)} loads with no code of ours.
 *
 * <p>Layout. Our weights are GPT-2's exactly; only names and the matrix layout differ. GPT-2 keeps its four
 * matrices per block as {@code Conv1D} weights of shape (in, out), the transpose of our {@code nn.Linear}
 * (out, in): {@code attn.c_attn.weight} (C, 3C) is our {@code qkv.weight} (3C, C) transposed, likewise
 * {@code attn.c_proj} (C, C), {@code mlp.c_fc} (C, 4C) and {@code mlp.c_proj} (4C, C). The q, k, v thirds and the
 * heads within them are in the same order. {@code wte.weight} keeps its V real rows (our padding rows up to Vp are
 * zero and re-created on read); the output head is tied to it, so no {@code lm_head.weight} is written. Names carry
 * the {@code transformer.} prefix, as {@code save_pretrained} of a {@code GPT2LMHeadModel} writes them; reading takes
 * them with or without it (the files on the Hugging Face hub have none).
 *
 * <p>The config says {@code activation_function: gelu_new} (the tanh GELU we use), {@code layer_norm_epsilon: 1e-5},
 * no dropout, and the end-of-text id as {@code bos_token_id} and {@code eos_token_id}. Reading refuses a directory
 * whose config describes something our kernels do not compute (another activation or epsilon, an inner width
 * other than 4C, attention scaled by layer index) or whose head is not tied to the embedding, naming the key.
 */
public final class HuggingFaceGpt2 {
    public static final String CONFIG_FILE = "config.json";
    public static final String GENERATION_CONFIG_FILE = "generation_config.json";
    public static final String MODEL_FILE = "model.safetensors";
    public static final String SHARDED_MODEL_INDEX = "model.safetensors.index.json";
    /** The key of config.json under which an export records where it came from (run, step, tokenizer, ...). */
    public static final String ORIGIN_KEY = "streamtrain";
    private static final String PREFIX = "transformer.";
    private static final String LM_HEAD = "lm_head.weight";
    private static final double LAYER_NORM_EPSILON = 1e-5;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private HuggingFaceGpt2() {
    }

    /**
     * A GPT-2 directory read back: the model's shape, its weights in our flat {@link ParameterTensor} layout (wte's
     * padding rows zero), the end-of-text id of the config when it has one, and what an export of ours recorded
     * under {@value #ORIGIN_KEY} (empty for other directories).
     */
    public record Pretrained(GptConfig config, float[] parameters, Integer endOfTextId, Map<String, String> origin) {
        public Pretrained {
            Objects.requireNonNull(config, "config");
            Objects.requireNonNull(parameters, "parameters");
            origin = Map.copyOf(origin);
        }
    }

    /** GPT-2's name (without the {@code transformer.} prefix) and file layout of each of our tensors. */
    private static String gpt2Name(ParameterTensor tensor, int layer) {
        String block = "h." + layer + ".";
        return switch (tensor) {
            case WTE -> "wte.weight";
            case WPE -> "wpe.weight";
            case LN1W -> block + "ln_1.weight";
            case LN1B -> block + "ln_1.bias";
            case QKVW -> block + "attn.c_attn.weight";
            case QKVB -> block + "attn.c_attn.bias";
            case ATTPROJW -> block + "attn.c_proj.weight";
            case ATTPROJB -> block + "attn.c_proj.bias";
            case LN2W -> block + "ln_2.weight";
            case LN2B -> block + "ln_2.bias";
            case FCW -> block + "mlp.c_fc.weight";
            case FCB -> block + "mlp.c_fc.bias";
            case FCPROJW -> block + "mlp.c_proj.weight";
            case FCPROJB -> block + "mlp.c_proj.bias";
            case LNFW -> "ln_f.weight";
            case LNFB -> "ln_f.bias";
        };
    }

    /** Whether GPT-2 stores the tensor transposed (its Conv1D matrices). */
    private static boolean transposed(ParameterTensor tensor) {
        return tensor == ParameterTensor.QKVW || tensor == ParameterTensor.ATTPROJW || tensor == ParameterTensor.FCW
                || tensor == ParameterTensor.FCPROJW;
    }

    /** One tensor of the GPT-2 file: its name (without prefix), our tensor and layer, its shape in the file. */
    private record Slot(String name, ParameterTensor tensor, int layer, long[] shape) {
    }

    /** The tensors in transformers' state_dict order: wte, wpe, each block's in module order, ln_f. */
    private static List<Slot> slots(GptConfig config) {
        List<Slot> slots = new ArrayList<>();
        slots.add(slot(ParameterTensor.WTE, 0, config));
        slots.add(slot(ParameterTensor.WPE, 0, config));
        ParameterTensor[] block = {ParameterTensor.LN1W, ParameterTensor.LN1B, ParameterTensor.QKVW,
                ParameterTensor.QKVB, ParameterTensor.ATTPROJW, ParameterTensor.ATTPROJB, ParameterTensor.LN2W,
                ParameterTensor.LN2B, ParameterTensor.FCW, ParameterTensor.FCB, ParameterTensor.FCPROJW,
                ParameterTensor.FCPROJB};
        for (int l = 0; l < config.layers(); l++) {
            for (ParameterTensor tensor : block) {
                slots.add(slot(tensor, l, config));
            }
        }
        slots.add(slot(ParameterTensor.LNFW, 0, config));
        slots.add(slot(ParameterTensor.LNFB, 0, config));
        return slots;
    }

    private static Slot slot(ParameterTensor tensor, int layer, GptConfig config) {
        int[] ours = tensor.layerShape(config);
        long[] shape = new long[ours.length];
        for (int i = 0; i < ours.length; i++) {
            shape[i] = ours[transposed(tensor) ? ours.length - 1 - i : i];
        }
        if (tensor == ParameterTensor.WTE) {
            shape[0] = config.vocabularySize();
        }
        return new Slot(gpt2Name(tensor, layer), tensor, layer, shape);
    }

    /**
     * GPT-2's tensor names (as {@code save_pretrained} writes them, with the {@code transformer.} prefix) and shapes
     * for a model of {@code config}, in file order.
     */
    public static Map<String, long[]> tensorShapes(GptConfig config) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (Slot slot : slots(config)) {
            shapes.put(PREFIX + slot.name(), slot.shape().clone());
        }
        return shapes;
    }

    // ---- writing -------------------------------------------------------------------------------

    /**
     * Writes {@code config.json}, {@code generation_config.json} and {@code model.safetensors} of the weights
     * {@code parameters} (our flat layout) into {@code directory}, creating it. Tokenizer files are the tokenizer's
     * business (see the tokenizer module's {@code HuggingFaceTokenizerFiles}).
     *
     * @param endOfTextId the tokenizer's end-of-text id, GPT-2's bos and eos
     * @param origin      where the weights came from (run, step, tokenizer ...), kept in config.json under
     *                    {@value #ORIGIN_KEY}
     */
    public static void write(Path directory, GptConfig config, float[] parameters, int endOfTextId,
                             Map<String, String> origin) throws IOException {
        Objects.requireNonNull(parameters, "parameters");
        if (parameters.length != config.parameterCount()) {
            throw new IllegalArgumentException("parameters have " + parameters.length + " elements, the config needs "
                    + config.parameterCount());
        }
        Files.createDirectories(directory);
        float[] layout = convertMatrices(config, parameters, true);
        List<Safetensors.Source> tensors = new ArrayList<>();
        for (Slot slot : slots(config)) {
            tensors.add(Safetensors.Source.floats(PREFIX + slot.name(), slot.shape(), layout, offset(slot, config)));
        }
        Safetensors.write(directory.resolve(MODEL_FILE), Map.of("format", "pt"), tensors);

        ObjectNode json = JSON.createObjectNode();
        json.putArray("architectures").add("GPT2LMHeadModel");
        json.put("model_type", "gpt2");
        json.put("vocab_size", config.vocabularySize());
        json.put("n_positions", config.contextLength());
        json.put("n_ctx", config.contextLength());
        json.put("n_embd", config.channels());
        json.put("n_layer", config.layers());
        json.put("n_head", config.heads());
        json.putNull("n_inner");
        json.put("activation_function", "gelu_new");
        json.put("layer_norm_epsilon", LAYER_NORM_EPSILON);
        json.put("resid_pdrop", 0.0);
        json.put("embd_pdrop", 0.0);
        json.put("attn_pdrop", 0.0);
        json.put("initializer_range", 0.02);
        json.put("scale_attn_weights", true);
        json.put("scale_attn_by_inverse_layer_idx", false);
        json.put("reorder_and_upcast_attn", false);
        json.put("tie_word_embeddings", true);
        json.put("use_cache", true);
        json.put("bos_token_id", endOfTextId);
        json.put("eos_token_id", endOfTextId);
        json.put("torch_dtype", "float32");
        ObjectNode recorded = json.putObject(ORIGIN_KEY);
        origin.forEach(recorded::put);
        JSON.writeValue(directory.resolve(CONFIG_FILE).toFile(), json);

        ObjectNode generation = JSON.createObjectNode();
        generation.put("bos_token_id", endOfTextId);
        generation.put("eos_token_id", endOfTextId);
        generation.put("pad_token_id", endOfTextId);
        JSON.writeValue(directory.resolve(GENERATION_CONFIG_FILE).toFile(), generation);
    }

    /** Offset of a slot in the flat layout. */
    private static int offset(Slot slot, GptConfig config) {
        return Math.toIntExact(slot.tensor().offset(config) + slot.layer() * slot.tensor().layerSize(config));
    }

    /**
     * A copy of the flat layout with every matrix that GPT-2 stores transposed turned into GPT-2's layout
     * ({@code toGpt2}) or back into ours. Transposing is exact: the same floats, moved.
     */
    private static float[] convertMatrices(GptConfig config, float[] flat, boolean toGpt2) {
        float[] result = flat.clone();
        for (Slot slot : slots(config)) {
            if (transposed(slot.tensor())) {
                int[] ours = slot.tensor().layerShape(config); // (out, in)
                int rows = toGpt2 ? ours[0] : ours[1];
                int columns = toGpt2 ? ours[1] : ours[0];
                int base = offset(slot, config);
                for (int r = 0; r < rows; r++) {
                    for (int c = 0; c < columns; c++) {
                        result[base + c * rows + r] = flat[base + r * columns + c];
                    }
                }
            }
        }
        return result;
    }

    // ---- reading -------------------------------------------------------------------------------

    /**
     * Reads a GPT-2 directory: {@code config.json} and {@code model.safetensors} (or the shards that
     * {@code model.safetensors.index.json} lists), F32 tensors with or without the {@code transformer.} prefix;
     * {@code lm_head.weight}, when present, must equal {@code wte.weight} (GPT-2 ties them), and the attention mask
     * buffers some files carry ({@code attn.bias}, {@code attn.masked_bias}) are ignored.
     *
     * @throws IOException naming the file and what is wrong: a missing file, a config we cannot compute, a missing
     *                     or misshapen tensor, an unexpected one
     */
    public static Pretrained read(Path directory) throws IOException {
        JsonNode json = configJson(directory);
        GptConfig config = configOf(json, directory.resolve(CONFIG_FILE));
        Map<String, String> origin = new LinkedHashMap<>();
        json.path(ORIGIN_KEY).properties().forEach(field -> origin.put(field.getKey(), field.getValue().asText()));
        Integer endOfText = json.path("eos_token_id").canConvertToInt() ? json.get("eos_token_id").asInt() : null;

        List<Path> files = modelFiles(directory);
        List<Safetensors.Reader> readers = new ArrayList<>();
        try {
            Map<String, Safetensors.Reader> owner = new LinkedHashMap<>();
            for (Path file : files) {
                Safetensors.Reader reader = Safetensors.open(file);
                readers.add(reader);
                for (String name : reader.entries().keySet()) {
                    owner.put(name, reader);
                }
            }
            float[] layout = new float[Math.toIntExact(config.parameterCount())];
            TreeSet<String> unused = new TreeSet<>(owner.keySet());
            for (Slot slot : slots(config)) {
                String name = owner.containsKey(PREFIX + slot.name()) ? PREFIX + slot.name() : slot.name();
                Safetensors.Reader reader = owner.get(name);
                if (reader == null) {
                    throw new IOException(directory + ": tensor '" + PREFIX + slot.name() + "' (or '" + slot.name()
                            + "') is missing from " + files + "; a GPT-2 of " + CONFIG_FILE + "'s shape needs it");
                }
                reader.readFloats(reader.entry(name, Safetensors.F32, slot.shape()), layout, offset(slot, config));
                unused.remove(name);
            }
            String head = owner.containsKey(LM_HEAD) ? LM_HEAD : owner.containsKey(PREFIX + LM_HEAD) ? PREFIX + LM_HEAD
                    : null;
            if (head != null) {
                requireTiedHead(owner.get(head), head, layout, config);
                unused.remove(head);
            }
            unused.removeIf(name -> name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias"));
            if (!unused.isEmpty()) {
                throw new IOException(directory + ": tensors " + unused + " are not part of GPT-2 (" + CONFIG_FILE
                        + " says model_type gpt2, so every tensor should be one of its)");
            }
            return new Pretrained(config, convertMatrices(config, layout, false), endOfText, origin);
        } finally {
            for (Safetensors.Reader reader : readers) {
                reader.close();
            }
        }
    }

    private static void requireTiedHead(Safetensors.Reader reader, String name, float[] layout, GptConfig config)
            throws IOException {
        float[] head = reader.readFloats(reader.entry(name, Safetensors.F32, config.vocabularySize(),
                config.channels()));
        int wte = Math.toIntExact(ParameterTensor.WTE.offset(config));
        if (!Arrays.equals(head, 0, head.length, layout, wte, wte + head.length)) {
            throw new IOException(reader.path() + ": '" + name + "' differs from the token embedding wte: this model's"
                    + " output head is not tied to its embedding, which GPT-2 (and our model) requires");
        }
    }

    private static List<Path> modelFiles(Path directory) throws IOException {
        Path single = directory.resolve(MODEL_FILE);
        if (Files.isRegularFile(single)) {
            return List.of(single);
        }
        Path index = directory.resolve(SHARDED_MODEL_INDEX);
        if (Files.isRegularFile(index)) {
            TreeSet<String> shards = new TreeSet<>();
            JSON.readTree(index.toFile()).path("weight_map").properties()
                    .forEach(entry -> shards.add(entry.getValue().asText()));
            if (shards.isEmpty()) {
                throw new IOException(index + " has no weight_map");
            }
            return shards.stream().map(directory::resolve).toList();
        }
        String hint = Files.isRegularFile(directory.resolve("pytorch_model.bin"))
                ? " It has pytorch_model.bin: convert it once in Python with AutoModelForCausalLM.from_pretrained(dir)"
                + ".save_pretrained(dir, safe_serialization=True)."
                : "";
        throw new IOException(directory + " has neither " + MODEL_FILE + " nor " + SHARDED_MODEL_INDEX + "." + hint);
    }

    /**
     * The model shape of a GPT-2 directory's {@code config.json}, without reading the weights.
     *
     * @throws IOException when there is no config.json or it describes a model our kernels do not compute
     */
    public static GptConfig readConfig(Path directory) throws IOException {
        return configOf(configJson(directory), directory.resolve(CONFIG_FILE));
    }

    private static JsonNode configJson(Path directory) throws IOException {
        Path configFile = directory.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(configFile)) {
            throw new IOException(directory.toAbsolutePath() + " is not a Hugging Face GPT-2 directory: it has no "
                    + CONFIG_FILE);
        }
        try {
            return JSON.readTree(configFile.toFile());
        } catch (IOException e) {
            throw new IOException(configFile + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    /** Our config of a GPT-2 config.json, with transformers' GPT-2 defaults for missing keys. */
    private static GptConfig configOf(JsonNode json, Path file) throws IOException {
        String type = json.path("model_type").asText("");
        if (!type.equals("gpt2")) {
            throw new IOException(file + ": model_type is '" + type + "', not gpt2; only GPT-2 models can be read");
        }
        String activation = json.path("activation_function").asText("gelu_new");
        if (!activation.equals("gelu_new") && !activation.equals("gelu_pytorch_tanh")) {
            throw new IOException(file + ": activation_function is '" + activation + "'; our kernels compute GPT-2's"
                    + " tanh GELU (gelu_new) only");
        }
        double epsilon = json.path("layer_norm_epsilon").asDouble(LAYER_NORM_EPSILON);
        if (Math.abs(epsilon - LAYER_NORM_EPSILON) > 1e-12) {
            throw new IOException(file + ": layer_norm_epsilon is " + epsilon + "; our kernels use GPT-2's 1e-5");
        }
        if (json.path("scale_attn_by_inverse_layer_idx").asBoolean(false)) {
            throw new IOException(file + ": scale_attn_by_inverse_layer_idx is true; our attention scales by "
                    + "1/sqrt(head size) only, as GPT-2 does");
        }
        if (!json.path("scale_attn_weights").asBoolean(true)) {
            throw new IOException(file + ": scale_attn_weights is false; our attention scales by 1/sqrt(head size)");
        }
        if (!json.path("tie_word_embeddings").asBoolean(true)) {
            throw new IOException(file + ": tie_word_embeddings is false; our output head is the token embedding");
        }
        int vocabulary = intOf(json, "vocab_size", 50257, file);
        int positions = intOf(json, "n_positions", 1024, file);
        int channels = intOf(json, "n_embd", 768, file);
        int layers = intOf(json, "n_layer", 12, file);
        int heads = intOf(json, "n_head", 12, file);
        JsonNode inner = json.path("n_inner");
        if (inner.canConvertToInt() && inner.asInt() != 4 * channels) {
            throw new IOException(file + ": n_inner is " + inner.asInt() + "; our MLP is 4 * n_embd = "
                    + 4 * channels + " wide, as GPT-2's");
        }
        try {
            return GptConfig.of(vocabulary, positions, channels, layers, heads);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    private static int intOf(JsonNode json, String key, int fallback, Path file) throws IOException {
        JsonNode node = json.get(key);
        if (node == null || node.isNull()) {
            return fallback;
        }
        if (!node.canConvertToInt() || !node.isIntegralNumber()) {
            throw new IOException(file + ": " + key + " is " + node + ", not an integer");
        }
        return node.asInt();
    }
}
