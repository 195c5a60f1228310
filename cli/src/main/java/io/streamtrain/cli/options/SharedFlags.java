package io.streamtrain.cli.options;

import io.streamtrain.model.GptConfig;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.trainer.TrainerConfig;

/**
 * Flags that several commands share, bound to the same keys in each command's settings: the pipeline's shape
 * ({@code --model}, {@code --tokenizer}, {@code --batch}, {@code --seq-len}; producer and trainer must agree on it),
 * where the model runs ({@code --backend}, {@code --threads}) and the Kafka cluster ({@code --bootstrap-servers}).
 */
public final class SharedFlags {
    private SharedFlags() {}

    /** {@code --model}, {@code --tokenizer}, {@code --batch B}, {@code --seq-len T}. */
    public static CommandSettings pipeline(CommandSettings settings) {
        return settings.flag("--model", TrainerConfig.MODEL, "tiny|small|gpt2")
                .flag("--tokenizer", TrainerConfig.TOKENIZER, "byte|gpt2|FILE")
                .flag("--batch", TrainerConfig.BATCH_ROWS, "B")
                .flag("--seq-len", TrainerConfig.SEQUENCE_LENGTH, "T");
    }

    /** {@code --backend auto|cpu|cuda} and {@code --threads N}. */
    public static CommandSettings backend(CommandSettings settings) {
        return settings.flag("--backend", TrainerConfig.BACKEND, "auto|cpu|cuda")
                .flag("--threads", TrainerConfig.CPU_THREADS, "N");
    }

    /**
     * {@code --bootstrap-servers HOST:PORT}, {@code --command-config FILE} (Kafka client properties) and the
     * {@code kafka.*} keys of every Kafka client ({@link KafkaClientSettings}).
     */
    public static CommandSettings kafka(CommandSettings settings) {
        return settings.flag("--bootstrap-servers", TrainerConfig.BOOTSTRAP_SERVERS, "HOST:PORT")
                .flag("--command-config", KafkaClientSettings.COMMAND_CONFIG, "FILE")
                .passThrough(KafkaClientSettings.PREFIX);
    }

    /**
     * Fills batch rows and sequence length from the model preset when they are 0 (the trainer's "from the preset") and
     * checks that T fits the preset's context; a usage error names where the value came from.
     */
    public static void derivePipelineShape(ResolvedSettings settings) {
        String model = (String) settings.value(TrainerConfig.MODEL);
        derivePipelineShape(settings, GptConfig.preset(model, 257).contextLength(), model);
    }

    /**
     * {@link #derivePipelineShape(ResolvedSettings)} for a model of {@code contextLength} named {@code modelName} (the
     * directory a run starts from with {@code --init-from}): B and T still default from the preset.
     */
    public static void derivePipelineShape(ResolvedSettings settings, int contextLength, String modelName) {
        String model = (String) settings.value(TrainerConfig.MODEL);
        if (isUnset(settings, TrainerConfig.BATCH_ROWS)) {
            settings.derive(TrainerConfig.BATCH_ROWS, TrainerConfig.defaultBatchRows(model));
        }
        if (isUnset(settings, TrainerConfig.SEQUENCE_LENGTH)) {
            settings.derive(TrainerConfig.SEQUENCE_LENGTH, TrainerConfig.defaultSequenceLength(model));
        }
        int sequenceLength = ((Number) settings.value(TrainerConfig.SEQUENCE_LENGTH)).intValue();
        if (sequenceLength < 1 || sequenceLength > contextLength) {
            throw settings.usageError(settings.describe(TrainerConfig.SEQUENCE_LENGTH) + " must be in [1, " + contextLength
                    + "] (the context length of " + modelName + "), got " + sequenceLength);
        }
    }

    /** Unset: null or 0, the "derive from the preset" value of the trainer's keys. */
    private static boolean isUnset(ResolvedSettings settings, String key) {
        Object value = settings.value(key);
        return value == null || ((Number) value).intValue() == 0;
    }
}
