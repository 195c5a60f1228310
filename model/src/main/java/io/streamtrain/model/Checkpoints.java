package io.streamtrain.model;

import io.streamtrain.model.internal.Safetensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Checkpoint files in the safetensors format, written atomically (temp file in the same directory,
 * fsync, atomic rename, fsync of the directory): a crash leaves the previous file or the new one, never
 * a torn one.
 *
 * <p>Layout. One little-endian F32 tensor per weight under the state_dict names of the reference trainer
 * ({@code torch_gpt_bench.py}) with its shapes: {@code wte.weight} (V, C) (only the V real rows; the
 * padding rows up to Vp are zero and are re-created on load), {@code wpe.weight} (T, C),
 * {@code blocks.{l}.ln1.weight}, {@code blocks.{l}.qkv.weight} (3C, C), ..., {@code ln_f.bias}, and
 * {@code head.weight}, a copy of {@code wte.weight} because the reference ties the head to the
 * embedding and its state_dict lists both (ignored on load). The AdamW moments follow as
 * {@code adamw.m.<name>} and {@code adamw.v.<name>}. {@code __metadata__} holds {@code format},
 * {@code format_version}, {@code config.*} (vocabulary_size, padded_vocabulary_size, context_length,
 * channels, layers, heads), {@code tokenizer.*} (name, vocabulary_size, fingerprint), {@code step},
 * {@code rng_state}, the caller's metadata under {@code meta.<key>}, and {@code data_crc32c}, the CRC32C
 * of the data section, checked on every read.
 *
 * <p>Loading the weights in PyTorch (the {@code GPT} class of {@code torch_gpt_bench.py}):
 * <pre>{@code
 * from safetensors import safe_open
 * from safetensors.torch import load_file
 * meta = safe_open(path, "pt").metadata()
 * model = GPT(V=int(meta["config.vocabulary_size"]), d=int(meta["config.channels"]),
 *             L=int(meta["config.layers"]), H=int(meta["config.heads"]), T=int(meta["config.context_length"]))
 * state = load_file(path)
 * model.load_state_dict({k: v for k, v in state.items() if not k.startswith("adamw.")})
 * }</pre>
 * Without the safetensors package, {@code model/src/test/python/golden_state.py} shows the ten lines that
 * parse the file with json and torch alone.
 */
public final class Checkpoints {

    /** Value of the {@code format} metadata key. */
    public static final String FORMAT = "streamtrain-checkpoint";
    /** The version this code writes and reads. */
    public static final int FORMAT_VERSION = 1;
    /** Prefix of the caller's metadata keys in the file. */
    public static final String METADATA_PREFIX = "meta.";
    private static final String ADAMW_M = "adamw.m.";
    private static final String ADAMW_V = "adamw.v.";
    private static final String HEAD = "head.weight";

    private Checkpoints() {
    }

    /** Writes {@code checkpoint} to {@code path} atomically, replacing any file there. */
    public static void write(Path path, Checkpoint checkpoint) throws IOException {
        GptConfig config = checkpoint.config();
        requireZeroPadding(config, checkpoint.parameters(), "parameters");
        requireZeroPadding(config, checkpoint.m(), "AdamW m");
        requireZeroPadding(config, checkpoint.v(), "AdamW v");
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("format", FORMAT);
        metadata.put("format_version", Integer.toString(FORMAT_VERSION));
        configFields(config).forEach(metadata::put);
        tokenizerFields(checkpoint.tokenizer()).forEach(metadata::put);
        metadata.put("step", Long.toString(checkpoint.step()));
        metadata.put("rng_state", Long.toString(checkpoint.rngState()));
        checkpoint.metadata().forEach((key, value) -> metadata.put(METADATA_PREFIX + key, value));

        List<Safetensors.Source> tensors = new ArrayList<>();
        addTensors(tensors, "", config, checkpoint.parameters());
        long[] wteShape = fileShape(ParameterTensor.WTE, config);
        tensors.add(Safetensors.Source.floats(HEAD, wteShape, checkpoint.parameters(),
                (int) ParameterTensor.WTE.offset(config)));
        addTensors(tensors, ADAMW_M, config, checkpoint.m());
        addTensors(tensors, ADAMW_V, config, checkpoint.v());
        Safetensors.write(path, metadata, tensors);
    }

    /** Reads a checkpoint; a truncated or corrupted file raises a {@link CheckpointException} saying what is wrong. */
    public static Checkpoint read(Path path) throws IOException {
        try (Safetensors.Reader file = Safetensors.open(path)) {
            Map<String, String> meta = file.metadata();
            String format = meta.get("format");
            if (!FORMAT.equals(format)) {
                throw file.problem("not a streamtrain checkpoint: metadata 'format' is "
                        + (format == null ? "missing" : "'" + format + "'") + ", expected '" + FORMAT + "'");
            }
            int version = (int) number(file, "format_version");
            if (version != FORMAT_VERSION) {
                throw file.problem("format version " + version + " is not supported; this build reads version "
                        + FORMAT_VERSION);
            }
            if (!meta.containsKey(Safetensors.CRC_KEY)) {
                throw file.problem("metadata '" + Safetensors.CRC_KEY + "' is missing: the data cannot be verified");
            }
            GptConfig config;
            try {
                config = new GptConfig((int) number(file, "config.vocabulary_size"),
                        (int) number(file, "config.padded_vocabulary_size"), (int) number(file, "config.context_length"),
                        (int) number(file, "config.channels"), (int) number(file, "config.layers"),
                        (int) number(file, "config.heads"));
            } catch (IllegalArgumentException e) {
                throw file.problem(e.getMessage());
            }
            TokenizerIdentity tokenizer;
            try {
                tokenizer = new TokenizerIdentity(text(file, "tokenizer.name"),
                        (int) number(file, "tokenizer.vocabulary_size"), text(file, "tokenizer.fingerprint"));
            } catch (IllegalArgumentException e) {
                throw file.problem(e.getMessage());
            }
            long step = number(file, "step");
            long rngState = number(file, "rng_state");
            Map<String, String> metadata = new LinkedHashMap<>();
            meta.forEach((key, value) -> {
                if (key.startsWith(METADATA_PREFIX)) {
                    metadata.put(key.substring(METADATA_PREFIX.length()), value);
                }
            });
            int n = Math.toIntExact(config.parameterCount());
            float[] parameters = readTensors(file, "", config, new float[n]);
            float[] m = readTensors(file, ADAMW_M, config, new float[n]);
            float[] v = readTensors(file, ADAMW_V, config, new float[n]);
            try {
                return new Checkpoint(config, tokenizer, step, rngState, parameters, m, v, metadata);
            } catch (IllegalArgumentException e) {
                throw file.problem(e.getMessage());
            }
        }
    }

    /**
     * Reads a checkpoint and verifies that it was made for {@code expectedConfig} and
     * {@code expectedTokenizer}; the message of the {@link CheckpointException} lists every field that differs.
     */
    public static Checkpoint read(Path path, GptConfig expectedConfig, TokenizerIdentity expectedTokenizer)
            throws IOException {
        Checkpoint checkpoint = read(path);
        List<String> differences = new ArrayList<>();
        compare(differences, configFields(checkpoint.config()), configFields(expectedConfig));
        compare(differences, tokenizerFields(checkpoint.tokenizer()), tokenizerFields(expectedTokenizer));
        if (!differences.isEmpty()) {
            throw new CheckpointException(path, "it was made for another model or tokenizer: "
                    + String.join("; ", differences)
                    + ". Start from a checkpoint of this model, or change the model or tokenizer to match it");
        }
        return checkpoint;
    }

    // ---- layout ----------------------------------------------------------------------------------

    /** The file shape of one layer's slice: wte keeps only its V real rows. */
    private static long[] fileShape(ParameterTensor tensor, GptConfig config) {
        int[] shape = tensor.layerShape(config);
        long[] result = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            result[i] = shape[i];
        }
        if (tensor == ParameterTensor.WTE) {
            result[0] = config.vocabularySize();
        }
        return result;
    }

    private static void addTensors(List<Safetensors.Source> tensors, String prefix, GptConfig config, float[] flat) {
        for (ParameterTensor tensor : ParameterTensor.values()) {
            int layers = tensor.perLayer() ? config.layers() : 1;
            for (int l = 0; l < layers; l++) {
                int offset = Math.toIntExact(tensor.offset(config) + l * tensor.layerSize(config));
                tensors.add(Safetensors.Source.floats(prefix + tensor.stateDictName(l), fileShape(tensor, config),
                        flat, offset));
            }
        }
    }

    /** The file keeps only wte's V real rows: refuses to drop padding rows that are not zero. */
    private static void requireZeroPadding(GptConfig config, float[] flat, String what) {
        int start = Math.toIntExact(ParameterTensor.WTE.offset(config)
                + (long) config.vocabularySize() * config.channels());
        int end = Math.toIntExact(ParameterTensor.WTE.offset(config) + ParameterTensor.WTE.size(config));
        for (int i = start; i < end; i++) {
            if (flat[i] != 0f) {
                throw new IllegalArgumentException("checkpoint " + what + ": padding row "
                        + (i / config.channels()) + " of wte is not zero; padding ids are never trained, so a model "
                        + "keeps those rows zero and the file does not store them");
            }
        }
    }

    /** Fills {@code flat}; wte's padding rows stay zero. */
    private static float[] readTensors(Safetensors.Reader file, String prefix, GptConfig config, float[] flat)
            throws IOException {
        for (ParameterTensor tensor : ParameterTensor.values()) {
            int layers = tensor.perLayer() ? config.layers() : 1;
            for (int l = 0; l < layers; l++) {
                int offset = Math.toIntExact(tensor.offset(config) + l * tensor.layerSize(config));
                Safetensors.Entry entry = file.entry(prefix + tensor.stateDictName(l), Safetensors.F32,
                        fileShape(tensor, config));
                file.readFloats(entry, flat, offset);
            }
        }
        return flat;
    }

    // ---- metadata --------------------------------------------------------------------------------

    private static Map<String, String> configFields(GptConfig config) {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("config.vocabulary_size", Integer.toString(config.vocabularySize()));
        fields.put("config.padded_vocabulary_size", Integer.toString(config.paddedVocabularySize()));
        fields.put("config.context_length", Integer.toString(config.contextLength()));
        fields.put("config.channels", Integer.toString(config.channels()));
        fields.put("config.layers", Integer.toString(config.layers()));
        fields.put("config.heads", Integer.toString(config.heads()));
        return fields;
    }

    private static Map<String, String> tokenizerFields(TokenizerIdentity tokenizer) {
        Map<String, String> fields = new LinkedHashMap<>();
        fields.put("tokenizer.name", tokenizer.name());
        fields.put("tokenizer.vocabulary_size", Integer.toString(tokenizer.vocabularySize()));
        fields.put("tokenizer.fingerprint", tokenizer.fingerprint());
        return fields;
    }

    private static void compare(List<String> differences, Map<String, String> actual, Map<String, String> expected) {
        expected.forEach((key, value) -> {
            if (!Objects.equals(actual.get(key), value)) {
                differences.add(key + " is '" + actual.get(key) + "' in the checkpoint, '" + value + "' expected");
            }
        });
    }

    private static String text(Safetensors.Reader file, String key) throws CheckpointException {
        String value = file.metadata().get(key);
        if (value == null) {
            throw file.problem("metadata '" + key + "' is missing");
        }
        return value;
    }

    private static long number(Safetensors.Reader file, String key) throws CheckpointException {
        String value = text(file, key);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw file.problem("metadata '" + key + "' is '" + value + "', not an integer");
        }
    }
}
