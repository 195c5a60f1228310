package io.streamtrain.trainer.internal;

import io.streamtrain.model.SamplingOptions;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.TrainerConfig;
import java.time.Instant;
import java.util.Arrays;

/**
 * The generated-text samples of a step, every {@code sample.every.steps}: the batch sample (prompt = the first
 * {@code sample.prompt.tokens} ids of row 0 of the step's batch, actual = the ids of row 0 that follow), then the fixed
 * prompt, if any, keyed {@code <run>/<step>/fixed-prompt} so that it does not replace the batch sample of the same
 * step. Each sample is Avro-serialized once and handed to a {@link Sink} with its bytes (sent, and kept for a
 * re-send). Shared by the one-process trainer's training step and rank 0 of a world.
 */
public final class SampleWriter {

    /** The model's generation: {@code maxNewTokens} ids after {@code prompt}. */
    @FunctionalInterface
    public interface Generator {
        int[] generate(int[] prompt, int maxNewTokens, SamplingOptions sampling, long seed);
    }

    /** Where a sample goes: under {@code key}, as {@code value} (its Avro bytes). */
    @FunctionalInterface
    public interface Sink {
        void accept(String key, TextSample sample, byte[] value);
    }

    private final Tokenizer tokenizer;
    private final String runId;
    private final int everySteps;
    private final int promptTokens;
    private final int maxNewTokens;
    private final SamplingOptions sampling;
    private final long seed;
    private final int[] fixedPrompt;   // encoded once; null when none is configured

    public SampleWriter(TrainerConfig config, Tokenizer tokenizer, String runId) {
        this.tokenizer = tokenizer;
        this.runId = runId;
        this.everySteps = config.sampleEverySteps();
        this.promptTokens = config.samplePromptTokens();
        this.maxNewTokens = config.sampleMaxNewTokens();
        this.sampling = new SamplingOptions((float) config.sampleTemperature(), config.sampleTopK());
        this.seed = config.seed();
        this.fixedPrompt = config.sampleFixedPrompt().isEmpty() ? null : tokenizer.encode(config.sampleFixedPrompt());
    }

    /** Whether {@code step} has samples. */
    public boolean due(long step) {
        return everySteps > 0 && step % everySteps == 0;
    }

    /**
     * The samples of {@code step}, keyed from {@code key} ({@code <run>/<step>}): the batch sample of {@code tokens}
     * (B, T+1), when there is a batch (a rank of a world may have none in a step), then the fixed prompt's.
     *
     * @param tokens the step's batch, row 0 first; null for none
     */
    public void emit(String key, long step, int[] tokens, int T, Generator model, Sink sink) {
        if (tokens != null) {
            int promptLength = Math.min(promptTokens, T);
            int actualLength = Math.min(maxNewTokens, T + 1 - promptLength);
            int[] prompt = Arrays.copyOfRange(tokens, 0, promptLength); // row 0 starts at 0
            emit(key, step, prompt, tokenizer.decode(tokens, promptLength, actualLength), model, sink);
        }
        if (fixedPrompt != null) {
            emit(key + "/fixed-prompt", step, fixedPrompt, "", model, sink);
        }
    }

    private void emit(String key, long step, int[] prompt, String actual, Generator model, Sink sink) {
        long sampleSeed = seed + step;
        int[] generated = model.generate(prompt, maxNewTokens, sampling, sampleSeed);
        TextSample sample = TextSample.newBuilder()
                .setRunId(runId).setStep(step).setTime(Instant.now())
                .setPrompt(tokenizer.decode(prompt, 0, prompt.length))
                .setGenerated(tokenizer.decode(generated, 0, generated.length))
                .setActual(actual)
                .setTemperature(sampling.temperature()).setTopK(sampling.topK())
                .setMaxNewTokens(maxNewTokens).setSeed(sampleSeed)
                .build();
        sink.accept(key, sample, AvroSerdes.textSample().serializer().serialize(null, sample)); // once: sent, kept
    }
}
