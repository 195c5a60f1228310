package io.streamtrain.model;

import io.streamtrain.model.cpu.CpuKernels;
import io.streamtrain.model.internal.SplitMix64;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes the initial weights of the golden state, {@code golden/model.safetensors}: the tiny
 * {@link GoldenState#CONFIG} initialised with {@link GoldenState#SEED} by {@link Gpt#initialize}, then its
 * LayerNorm weights and all biases moved off their initial 1 and 0 (so that the golden state exercises
 * them). The expected values are then computed independently in PyTorch by
 * {@code model/src/test/python/golden_state.py}, which reads this file. To regenerate, from the root:
 * <pre>
 * mvn -q -o -pl model -am test-compile
 * mvn -q -o -pl model dependency:build-classpath -Dmdep.outputFile=/tmp/model-classpath.txt
 * java -cp "model/target/test-classes:model/target/classes:$(cat /tmp/model-classpath.txt)" \
 *     io.streamtrain.model.GoldenStateGenerator model/src/test/resources/golden
 * python3 model/src/test/python/golden_state.py model/src/test/resources/golden   # Debian: python3-torch
 * </pre>
 * Both steps are deterministic: rerunning them reproduces the committed files byte for byte (checked with
 * torch 1.13.1 from Debian bookworm).
 */
public final class GoldenStateGenerator {

    private GoldenStateGenerator() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 1) {
            System.err.println("usage: GoldenStateGenerator <golden directory>");
            System.exit(2);
        }
        Path file = Path.of(args[0]).resolve(GoldenState.MODEL_FILE);
        Checkpoint initial;
        try (Gpt gpt = Gpt.initialize(GoldenState.CONFIG, new CpuKernels(1), TrainingOptions.defaults(),
                GoldenState.SEED)) {
            initial = gpt.checkpoint(GoldenState.TOKENIZER, Map.of("purpose", "golden state initial weights"));
        }
        GptConfig config = initial.config();
        float[] parameters = initial.parameters();
        SplitMix64 rng = new SplitMix64(GoldenState.SEED + 1);
        for (ParameterTensor t : ParameterTensor.values()) {
            if (t.decayed()) {
                continue;
            }
            boolean layernormWeight = t == ParameterTensor.LN1W || t == ParameterTensor.LN2W
                    || t == ParameterTensor.LNFW;
            int offset = (int) t.offset(config);
            for (int i = 0; i < t.size(config); i++) {
                parameters[offset + i] = (float) ((layernormWeight ? 1.0 : 0.0) + 0.1 * rng.nextGaussian());
            }
        }
        Checkpoints.write(file, new Checkpoint(config, initial.tokenizer(), 0, rng.state(), parameters,
                initial.m(), initial.v(), initial.metadata()));
        System.out.println("wrote " + file + " (" + config + ")");
    }
}
