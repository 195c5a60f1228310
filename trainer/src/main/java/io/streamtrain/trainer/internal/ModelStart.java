package io.streamtrain.trainer.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.TrainerConfig;
import java.util.Optional;

/** What the one-process trainer and a rank of a world share when they start a model. */
public final class ModelStart {
    private ModelStart() {
    }

    /** The AdamW options and learning-rate schedule the configuration asks for. */
    public static TrainingOptions trainingOptions(TrainerConfig config) {
        LearningRateSchedule schedule = config.learningRateDecay().equals("cosine")
                ? LearningRateSchedule.cosine(config.learningRate(), config.learningRateWarmupSteps(),
                config.learningRateDecaySteps(), config.learningRateFloorRatio())
                : LearningRateSchedule.constant(config.learningRate(), config.learningRateWarmupSteps());
        TrainingOptions defaults = TrainingOptions.defaults();
        return new TrainingOptions(schedule, config.weightDecay(), defaults.beta1(), defaults.beta2(), defaults.eps(),
                config.maxGradientNorm());
    }

    /** The identity a checkpoint records of {@code tokenizer}. */
    public static TokenizerIdentity identityOf(Tokenizer tokenizer) {
        return new TokenizerIdentity(tokenizer.name(), tokenizer.vocabularySize(), tokenizer.fingerprint());
    }

    /**
     * Refuses a checkpoint made for another model or tokenizer than the configured ones.
     *
     * @param model the configured model's name (or where it came from), for the message
     * @throws IllegalStateException naming both, and what to do
     */
    public static void requireCompatible(CheckpointStore.Loaded loaded, GptConfig expected,
                                         TokenizerIdentity tokenizer, String model) {
        Checkpoint checkpoint = loaded.checkpoint();
        if (!checkpoint.config().equals(expected) || !checkpoint.tokenizer().equals(tokenizer)) {
            throw new IllegalStateException("checkpoint " + loaded.path() + " holds a model " + checkpoint.config()
                    + " trained with tokenizer " + checkpoint.tokenizer() + ", but the trainer is configured for "
                    + expected + " (model " + model + ") with tokenizer " + tokenizer
                    + "; use the checkpoint's model and tokenizer, or another checkpoint.dir for a new run");
        }
    }

    /**
     * The model on {@code kernels}: restored from {@code start}, else initialized from {@code seed}, training with
     * {@code dropout}; the kernels are closed when that fails.
     */
    public static Gpt gpt(Optional<Checkpoint> start, GptConfig config, Kernels kernels, TrainingOptions options,
                          long seed, double dropout) {
        try {
            Gpt gpt = start.isPresent() ? Gpt.restore(start.get(), kernels, options)
                    : Gpt.initialize(config, kernels, options, seed);
            gpt.dropout(dropout);
            return gpt;
        } catch (RuntimeException e) {
            kernels.close();
            throw e;
        }
    }
}
