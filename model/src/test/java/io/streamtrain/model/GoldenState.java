package io.streamtrain.model;

import io.streamtrain.model.internal.Safetensors;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The golden state under test resources {@code golden/}: {@code model.safetensors}, the initial weights
 * (a checkpoint written by {@link GoldenStateGenerator}), and {@code expected.safetensors}, what PyTorch
 * computed from them in float64 with the reference architecture ({@code model/src/test/python/golden_state.py}):
 * the batch, the logits, the loss, every named gradient, and the losses of ten AdamW steps with the
 * options recorded in its metadata.
 */
public final class GoldenState {

    /** V=67 (Vp=128), T=16, C=32, L=2, NH=4. */
    public static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    public static final TokenizerIdentity TOKENIZER = new TokenizerIdentity("golden", 67, "");
    public static final long SEED = 1234;
    public static final String MODEL_FILE = "model.safetensors";
    public static final String EXPECTED_FILE = "expected.safetensors";

    public final Checkpoint initial;
    public final int batch;
    public final int sequenceLength;
    public final int[] tokens;   // (B, T+1)
    public final float[] logits; // (B, T, V)
    public final float loss;
    public final float[] losses; // (steps) loss of each AdamW step, before its update
    /** Gradient per state_dict name (wte.weight (V, C)), in the reference shapes. */
    public final Map<String, float[]> gradients = new LinkedHashMap<>();
    public final TrainingOptions options;
    public final Map<String, String> metadata;

    private GoldenState(Path directory) throws IOException {
        initial = Checkpoints.read(directory.resolve(MODEL_FILE), CONFIG, TOKENIZER);
        try (Safetensors.Reader file = Safetensors.open(directory.resolve(EXPECTED_FILE))) {
            metadata = file.metadata();
            batch = Integer.parseInt(metadata.get("batch"));
            sequenceLength = Integer.parseInt(metadata.get("seq_len"));
            int steps = Integer.parseInt(metadata.get("steps"));
            tokens = file.readInts(file.entry("tokens", Safetensors.I32, batch, sequenceLength + 1));
            logits = file.readFloats(file.entry("logits", Safetensors.F32, batch, sequenceLength,
                    CONFIG.vocabularySize()));
            loss = file.readFloats(file.entry("loss", Safetensors.F32, 1))[0];
            losses = file.readFloats(file.entry("losses", Safetensors.F32, steps));
            for (Safetensors.Entry entry : file.entries().values()) {
                if (entry.name().startsWith("grad.")) {
                    gradients.put(entry.name().substring("grad.".length()), file.readFloats(entry));
                }
            }
            LearningRateSchedule schedule = LearningRateSchedule.cosine(number("lr_peak"),
                    (long) number("lr_warmup_steps"), (long) number("lr_decay_steps"), number("lr_floor_ratio"));
            options = new TrainingOptions(schedule, number("weight_decay"), number("beta1"), number("beta2"),
                    number("eps"), number("max_grad_norm"));
        }
    }

    private double number(String key) {
        String value = metadata.get(key);
        if (value == null) {
            throw new IllegalStateException("golden expected.safetensors lacks metadata '" + key + "'");
        }
        return Double.parseDouble(value);
    }

    /** The golden state from the class path (test resources, or the model test-jar of another module). */
    public static GoldenState load() {
        try {
            Path directory = Files.createTempDirectory("streamtrain-golden");
            try {
                for (String name : new String[] {MODEL_FILE, EXPECTED_FILE}) {
                    try (InputStream in = GoldenState.class.getResourceAsStream("/golden/" + name)) {
                        if (in == null) {
                            throw new IllegalStateException("golden/" + name + " is not on the class path: it lives in "
                                    + "model/src/test/resources and ships in the model test-jar");
                        }
                        Files.copy(in, directory.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                return new GoldenState(directory);
            } finally {
                for (String name : new String[] {MODEL_FILE, EXPECTED_FILE}) {
                    Files.deleteIfExists(directory.resolve(name));
                }
                Files.deleteIfExists(directory);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot load the golden state", e);
        }
    }
}
