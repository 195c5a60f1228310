package io.streamtrain.trainer.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.Backends;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Instant;
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

    /**
     * The model's shape: the configured preset, or that of the {@code init.from} directory when given.
     *
     * @throws IllegalArgumentException when the sequence length exceeds its context
     */
    public static GptConfig shape(TrainerConfig config, Tokenizer tokenizer, Optional<Path> initFrom) {
        GptConfig shape = initFrom.isEmpty() ? GptConfig.preset(config.model(), tokenizer.vocabularySize())
                : InitFrom.shape(initFrom.get(), tokenizer);
        if (config.sequenceLength() > shape.contextLength()) {
            throw new IllegalArgumentException("sequence.length " + config.sequenceLength() + " exceeds the context"
                    + " length " + shape.contextLength() + " of model " + initFrom.map(Path::toString)
                    .orElse(config.model()) + "; lower it or choose a larger model");
        }
        return shape;
    }

    /** Who holds the checkpoint directory's lock: this process, its host and start time. */
    public static String lockHolder() {
        ProcessHandle self = ProcessHandle.current();
        return "pid " + self.pid() + " on " + TrainerProcess.localHost() + ", started "
                + self.info().startInstant().map(Instant::toString).orElse("at an unknown time");
    }

    /**
     * The run id of the one-process trainer and whether it is new.
     *
     * @param runId  configured, else the checkpoint's, else the directory's {@code run-id} file, else a new one
     * @param newRun no checkpoint, no run file, none configured: the run has sent nothing yet
     */
    public record RunId(String runId, boolean newRun) {
        /** Settles the run id and writes it to the directory's run file at once (a restart continues the run). */
        public static RunId settle(TrainerConfig config, Optional<CheckpointStore.Loaded> restored,
                                   CheckpointStore store) throws IOException {
            Optional<String> persisted = store.runId();
            String runId = !config.runId().isEmpty() ? config.runId()
                    : restored.map(loaded -> RunLedger.of(loaded.checkpoint().metadata()).runId())
                    .filter(id -> !id.isEmpty()).or(() -> persisted)
                    .orElseGet(TrainerConfig::generateRunId);
            boolean newRun = config.runId().isEmpty() && restored.isEmpty() && persisted.isEmpty();
            if (!persisted.equals(Optional.of(runId))) {
                store.writeRunId(runId); // before the first metrics record: a restart continues this run
            }
            return new RunId(runId, newRun);
        }
    }

    /**
     * Where the weights start: the run's checkpoint, else the {@code init.from} directory (fresh optimizer), else
     * nothing (initialized from the seed).
     */
    public static Optional<Checkpoint> start(Optional<CheckpointStore.Loaded> restored, Optional<Path> initFrom,
                                             Tokenizer tokenizer, GptConfig shape, long seed, PrintStream log)
            throws IOException {
        if (restored.isPresent()) {
            return Optional.of(restored.get().checkpoint());
        }
        return initFrom.isEmpty() ? Optional.empty() : Optional.of(InitFrom.checkpoint(initFrom.get(), tokenizer,
                identityOf(tokenizer), shape, seed, log));
    }

    /** {@code replicas} > 1 models, restored alike or initialized alike, on their backends, training with dropout. */
    public static DataParallelGpt replicas(TrainerConfig config, GptConfig shape, Optional<Checkpoint> start,
                                           TrainingOptions options, PrintStream log) {
        Backends.Replicas backends = Backends.openReplicas(config.backend(), config.cpuThreads(), config.replicas(),
                log);
        try {
            DataParallelGpt replicas = start.isPresent()
                    ? DataParallelGpt.restore(start.get(), backends.kernels(), backends.reducers(), options)
                    : DataParallelGpt.initialize(shape, backends.kernels(), backends.reducers(), options, config.seed());
            for (int r = 0; r < replicas.replicas(); r++) {
                replicas.replica(r).dropout(config.dropout());
            }
            return replicas;
        } catch (RuntimeException e) {
            backends.kernels().forEach(Kernels::close);
            throw e;
        }
    }
}
