package io.streamtrain.trainer;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.EvalResult;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.EvaluationSet;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.LearningRateSchedule;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.EmittedRecords;
import io.streamtrain.trainer.internal.TrainerProcess;
import io.streamtrain.trainer.internal.InitFrom;
import io.streamtrain.trainer.internal.ModelStart;
import io.streamtrain.trainer.internal.RunningLedger;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.common.TopicPartition;

/**
 * The one model of a trainer process, shared by every stream task whatever the number of partitions, with what
 * must be saved alongside it: the last handled offset of every input partition (applied or dead-lettered), the
 * batches and tokens trained, the batch checksum of every dataset, the run id, and the metrics and sample records of
 * the last steps (for a restart to send again). The checkpoint is the source of truth for the input position: on open
 * the newest valid checkpoint is restored, and a record at or below its partition's offset is a replay to skip.
 * Every method is synchronized: one caller at a time touches the model.
 */
public final class ResidentModel implements AutoCloseable {
    /** Checkpoint metadata: the lowest held-out loss of the run so far, and its step. */
    public static final String BEST_EVAL_LOSS_KEY = "eval.best.loss";
    public static final String BEST_EVAL_STEP_KEY = "eval.best.step";

    private final Gpt gpt;               // replica 0 when data-parallel: it speaks for the model
    private final DataParallelGpt replicas; // null with one replica
    private final Tokenizer tokenizer;
    private final TokenizerIdentity tokenizerIdentity;
    private final String runId;
    private final boolean newRun;
    private final CheckpointStore.Lock lock;
    private final TrainingMeters meters;
    private final CheckpointStore checkpoints;
    private final long checkpointEverySteps;
    private final long checkpointEveryNanos;
    private final RunningLedger ledger;
    private final EmittedRecords emitted;
    private final Optional<Path> restoredFrom;
    private long lastCheckpointStep;
    private long lastCheckpointNanos = System.nanoTime();
    private Path lastCheckpoint;
    private boolean changedSinceCheckpoint;
    private final int rows;
    private final int sequenceLength;
    private final CheckpointStore bestCheckpoints; // null when checkpoint.best is off
    private EvaluationSet evaluationSet;            // made on the first evaluation batch
    private double bestEvalLoss = Double.POSITIVE_INFINITY;
    private long bestEvalStep = -1;

    private ResidentModel(Gpt gpt, DataParallelGpt replicas, Tokenizer tokenizer, String runId, boolean newRun,
                          CheckpointStore checkpoints, CheckpointStore.Lock lock, TrainerConfig config,
                          Optional<CheckpointStore.Loaded> restored, PrintStream log) {
        this.gpt = gpt;
        this.replicas = replicas;
        this.newRun = newRun;
        this.lock = lock;
        this.tokenizer = tokenizer;
        this.tokenizerIdentity = ModelStart.identityOf(tokenizer);
        this.runId = runId;
        this.checkpoints = checkpoints;
        this.checkpointEverySteps = config.checkpointEverySteps();
        this.checkpointEveryNanos = config.checkpointEverySeconds() * 1_000_000_000L;
        Kernels kernels = gpt.kernels();
        this.meters = new TrainingMeters(kernels::allocatedBytes);
        meters.replicas(replicas == null ? 1 : replicas.replicas());
        meters.localRanks(0, replicas == null ? 1 : replicas.replicas());
        this.restoredFrom = restored.map(CheckpointStore.Loaded::path);
        this.lastCheckpointStep = gpt.step();
        this.lastCheckpoint = restoredFrom.orElse(null);
        this.rows = config.batchRows();
        this.sequenceLength = config.sequenceLength();
        this.bestCheckpoints = config.checkpointBest() ? new CheckpointStore(config.bestCheckpointDir(), 1) : null;
        Optional<RunLedger> ledger = restored.map(loaded -> RunLedger.of(loaded.checkpoint().metadata()));
        this.emitted = ledger.map(kept -> EmittedRecords.of(kept.resendBuffer(), runId, log))
                .orElseGet(EmittedRecords::new);
        this.ledger = ledger.map(RunningLedger::new).orElseGet(RunningLedger::new);
        ledger.ifPresent(kept -> {
            Map<String, String> metadata = restored.get().checkpoint().metadata();
            if (metadata.containsKey(BEST_EVAL_LOSS_KEY)) {
                bestEvalLoss = Double.parseDouble(metadata.get(BEST_EVAL_LOSS_KEY));
                bestEvalStep = Long.parseLong(metadata.getOrDefault(BEST_EVAL_STEP_KEY, "-1"));
            }
        });
    }

    /**
     * Takes the checkpoint directory for this process (a second trainer on it is refused, naming the first), removes
     * the temporary files of interrupted checkpoint writes, restores the newest valid checkpoint or, when there is
     * none, initializes fresh weights from the seed, and settles the run id (configured, else the checkpoint's, else
     * the directory's {@code run-id} file, else a new one, written to that file at once). Reports what it did on
     * {@code log}.
     *
     * @throws IOException when checkpoints exist but none is usable
     * @throws IllegalStateException when the checkpoint was made for another model or tokenizer
     */
    public static ResidentModel open(TrainerConfig config, PrintStream log) throws IOException {
        Tokenizer tokenizer = Tokenizers.open(config.tokenizer());
        TokenizerIdentity identity = ModelStart.identityOf(tokenizer);
        Path initFrom = config.initFrom().isEmpty() ? null : Path.of(config.initFrom());
        GptConfig gptConfig = initFrom == null ? GptConfig.preset(config.model(), tokenizer.vocabularySize())
                : InitFrom.shape(initFrom, tokenizer);
        if (config.sequenceLength() > gptConfig.contextLength()) {
            throw new IllegalArgumentException("sequence.length " + config.sequenceLength() + " exceeds the context"
                    + " length " + gptConfig.contextLength() + " of model "
                    + (initFrom == null ? config.model() : initFrom) + "; lower it or choose a larger model");
        }
        CheckpointStore store = new CheckpointStore(config.checkpointDir(), config.checkpointKeep());
        ProcessHandle self = ProcessHandle.current();
        String holder = "pid " + self.pid() + " on " + TrainerProcess.localHost() + ", started "
                + self.info().startInstant().map(Instant::toString).orElse("at an unknown time");
        CheckpointStore.Lock lock = store.lock(holder);
        try {
            store.removeInterruptedWrites(log);
            Optional<CheckpointStore.Loaded> restored = store.loadNewest(log);
            restored.ifPresent(loaded -> ModelStart.requireCompatible(loaded, gptConfig, identity,
                    initFrom == null ? config.model() : initFrom.toString()));
            Optional<String> persistedRunId = store.runId();
            String runId = !config.runId().isEmpty() ? config.runId()
                    : restored.map(loaded -> RunLedger.of(loaded.checkpoint().metadata()).runId())
                    .filter(id -> !id.isEmpty()).or(() -> persistedRunId)
                    .orElseGet(TrainerConfig::generateRunId);
            boolean newRun = config.runId().isEmpty() && restored.isEmpty() && persistedRunId.isEmpty();
            if (!persistedRunId.equals(Optional.of(runId))) {
                store.writeRunId(runId);   // before the first metrics record: a restart continues this run
            }
            lock.describe(holder + ", run " + runId);
            TrainingOptions options = ModelStart.trainingOptions(config);
            // where the weights start: the run's checkpoint, else the init.from directory (fresh optimizer), else the seed
            Optional<Checkpoint> start = restored.isPresent() ? Optional.of(restored.get().checkpoint())
                    : initFrom == null ? Optional.empty()
                    : Optional.of(InitFrom.checkpoint(initFrom, tokenizer, identity, gptConfig, config.seed(), log));
            DataParallelGpt replicas = config.replicas() == 1 ? null
                    : openReplicas(config, gptConfig, start, options, log);
            Gpt gpt = replicas != null ? replicas.replica(0) : ModelStart.gpt(start, gptConfig,
                    Backends.open(config.backend(), config.cpuThreads(), log), options, config.seed(), config.dropout());
            ResidentModel model = new ResidentModel(gpt, replicas, tokenizer, runId, newRun, store, lock, config,
                    restored, log);
            log.println(restored.map(loaded -> "restored " + loaded.path() + ": step " + gpt.step() + ", "
                            + model.ledger.batchesTrained() + " batches, offsets " + model.ledger.offsets())
                    .orElse("no checkpoint in " + store.directory() + ": new " + (initFrom == null
                            ? config.model() + " model" : "model from " + initFrom) + " (" + gptConfig.parameterCount()
                            + " parameters" + (initFrom == null ? ", seed " + config.seed() : "") + ")")
                    + "; run " + runId + (newRun ? " (new)" : ""));
            return model;
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /** The replicas of {@code replicas} > 1: restored alike or initialized alike, on their backends. */
    private static DataParallelGpt openReplicas(TrainerConfig config, GptConfig gptConfig,
                                                Optional<Checkpoint> start, TrainingOptions options,
                                                PrintStream log) {
        Backends.Replicas backends = Backends.openReplicas(config.backend(), config.cpuThreads(), config.replicas(), log);
        try {
            DataParallelGpt replicas = start.isPresent()
                    ? DataParallelGpt.restore(start.get(), backends.kernels(), backends.reducers(), options)
                    : DataParallelGpt.initialize(gptConfig, backends.kernels(), backends.reducers(), options,
                    config.seed());
            for (int r = 0; r < replicas.replicas(); r++) {
                replicas.replica(r).dropout(config.dropout());
            }
            return replicas;
        } catch (RuntimeException e) {
            backends.kernels().forEach(Kernels::close);
            throw e;
        }
    }

    // ---- the training loop's calls ------------------------------------------------------------

    /** Whether the record at {@code offset} was already handled (applied or dead-lettered): a replay to skip. */
    public synchronized boolean alreadyHandled(TopicPartition partition, long offset) {
        return ledger.alreadyHandled(partition, offset);
    }

    /**
     * One training step on {@code tokens} (B, T+1), batch {@code sequence} of {@code dataset}, then the record's
     * offset is handled. When the step was applied, the batch and its B*T tokens count as trained and the batch's
     * sequence goes into its dataset's checksum.
     */
    public synchronized StepResult train(int[] tokens, int B, int T, String dataset, long sequence,
                                         TopicPartition partition, long offset) {
        return train(CheckedTokens.check(gpt.config(), tokens, B, T), dataset, sequence, partition, offset);
    }

    /** As {@link #train(int[], int, int, String, long, TopicPartition, long)}, on ids already checked. */
    public synchronized StepResult train(CheckedTokens batch, String dataset, long sequence, TopicPartition partition,
                                         long offset) {
        long start = System.nanoTime();
        StepResult result = replicas == null ? gpt.trainStep(batch) : replicas.trainStep(batch);
        if (replicas != null) {
            recordRanks(batch.rows(), batch.sequenceLength(), System.nanoTime() - start);
        }
        if (result.applied()) {
            ledger.applied(partition, offset, dataset, sequence, (long) batch.rows() * batch.sequenceLength());
        } else {
            ledger.handled(partition, offset);
        }
        changedSinceCheckpoint = true;
        return result;
    }

    /** Each replica's rows and all-reduce time of the step just taken, for the meters. */
    private void recordRanks(int B, int T, long stepNanos) {
        int n = replicas.replicas();
        int[] rows = DataParallelGpt.rowsOf(B, n);
        long[] rankTokens = new long[n];
        long[] reduceNanos = new long[n];
        for (int r = 0; r < n; r++) {
            rankTokens[r] = (long) rows[r] * T;
            reduceNanos[r] = replicas.reduceNanos(r);
        }
        meters.recordRanks(B, rankTokens, reduceNanos, stepNanos);
    }

    /**
     * Keeps a metrics record as forwarded under {@code key}, as {@code value} (its Avro bytes, as sent), for the
     * checkpoints to carry (see {@link EmittedRecords}: a restart re-sends them, since a crash can lose them in the
     * producer's buffer).
     */
    public synchronized void recordEmitted(String key, TrainingMetrics metrics, byte[] value) {
        emitted.add(key, metrics, value);
    }

    /** Keeps a sample record as forwarded, like {@link #recordEmitted(String, TrainingMetrics, byte[])}. */
    public synchronized void recordEmitted(String key, TextSample sample, byte[] value) {
        emitted.add(key, sample, value);
    }

    /**
     * Sends again the metrics and sample records of the restored checkpoint (those of its last
     * {@value EmittedRecords#STEPS_KEPT} steps), with their keys and times: a crash may have lost some of them in the
     * producer's buffer, and their steps will not be trained again. Call before training resumes.
     *
     * @return how many were sent
     */
    public synchronized int resendEmitted(Producer<String, byte[]> producer, String metricsTopic,
                                          String samplesTopic) {
        return emitted.sendTo(producer, metricsTopic, samplesTopic);
    }

    /**
     * Says that every record emitted so far was delivered (Kafka Streams closed cleanly, which flushes its
     * producer): the next checkpoint, even of the same step, carries none, so a clean restart sends nothing again.
     */
    public synchronized void emittedRecordsDelivered() {
        if (!emitted.isEmpty()) {
            emitted.clear();
            changedSinceCheckpoint = true;
        }
    }

    /** Loss and accuracy of {@code tokens} (B, T+1) without an update. */
    public synchronized EvalResult evaluate(int[] tokens, int B, int T) {
        return gpt.evaluate(tokens, B, T);
    }

    /** Loss and accuracy of a checked batch without an update. */
    public synchronized EvalResult evaluate(CheckedTokens batch) {
        return gpt.evaluate(batch);
    }

    /**
     * Uploads one more evaluation batch (B, T+1) to the device, into a set of {@code capacity} batches made on the
     * first call.
     */
    public synchronized void addEvaluationBatch(CheckedTokens batch, int capacity) {
        if (evaluationSet == null) {
            evaluationSet = gpt.evaluationSet(capacity, rows, sequenceLength);
        }
        evaluationSet.add(batch);
    }

    /** Loss and accuracy over the resident evaluation set without an update; empty while it has no batch. */
    public synchronized Optional<EvalResult> evaluate() {
        return evaluationSet == null ? Optional.empty() : Optional.of(gpt.evaluate(evaluationSet));
    }

    /** Batches in the evaluation set. */
    public synchronized int evaluationBatches() {
        return evaluationSet == null ? 0 : evaluationSet.size();
    }

    /** Positions in the evaluation set. */
    public synchronized long evaluationTokens() {
        return evaluationSet == null ? 0 : evaluationSet.tokens();
    }

    /**
     * Notes the held-out loss of {@code step}; true when it is the lowest of the run so far (kept in checkpoints, so
     * a restart goes on comparing with the best before it).
     */
    public synchronized boolean recordEvaluation(long step, double loss) {
        if (!(loss < bestEvalLoss)) {
            return false;
        }
        bestEvalLoss = loss;
        bestEvalStep = step;
        changedSinceCheckpoint = true;
        return true;
    }

    /** The lowest held-out loss so far (infinite before any evaluation). */
    public synchronized double bestEvaluationLoss() { return bestEvalLoss; }

    /** The step of {@link #bestEvaluationLoss()}, -1 before any evaluation. */
    public synchronized long bestEvaluationStep() { return bestEvalStep; }

    /**
     * Writes the model as the best checkpoint, {@code <checkpoint.dir>/best/step-N.safetensors}, replacing the
     * previous best; rotation never deletes it. Empty when {@code checkpoint.best} is off.
     */
    public synchronized Optional<Path> checkpointBest() {
        if (bestCheckpoints == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(bestCheckpoints.write(gpt.checkpoint(tokenizerIdentity, metadata())));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the best checkpoint of step " + gpt.step() + " to "
                    + bestCheckpoints.directory() + ": " + e.getMessage() + "; check free space and permissions", e);
        }
    }

    /**
     * Records that the record at {@code offset} is on the dead-letter topic: handled (never replayed) and counted;
     * {@code deadLetterPositions} (dead-letter partition to next offset)
     * go into the checkpoints, where a restart starts looking for dead letters sent after them.
     */
    public synchronized void recordDeadLetter(TopicPartition partition, long offset, DeadLetterReason reason,
                                              String message, Map<Integer, Long> deadLetterPositions) {
        ledger.deadLettered(partition, offset, deadLetterPositions);
        changedSinceCheckpoint = true;
        meters.recordDeadLetter(reason);
    }

    /** {@code maxNewTokens} ids generated after {@code prompt}. */
    public synchronized int[] generate(int[] prompt, int maxNewTokens, SamplingOptions sampling, long seed) {
        return gpt.generate(prompt, maxNewTokens, sampling, seed);
    }

    /** Writes a checkpoint when the step or time cadence says so; the path written, or empty. */
    public synchronized Optional<Path> checkpointIfDue() {
        long steps = gpt.step() - lastCheckpointStep;
        boolean due = steps > 0 && ((checkpointEverySteps > 0 && steps >= checkpointEverySteps)
                || (checkpointEveryNanos > 0 && System.nanoTime() - lastCheckpointNanos >= checkpointEveryNanos));
        return due ? Optional.of(checkpoint()) : Optional.empty();
    }

    /**
     * Writes a checkpoint now, unless nothing changed since the last one (then returns it): model, optimizer, step,
     * tokenizer, and in metadata the handled offset of every partition, the run id, the batches and tokens trained,
     * the batch checksum of every dataset, the best held-out loss and its step, and the metrics and sample records of
     * the last steps. Keeps the newest {@code checkpoint.keep}.
     */
    public synchronized Path checkpoint() {
        if (lastCheckpoint != null && !changedSinceCheckpoint) {
            return lastCheckpoint;
        }
        try {
            lastCheckpoint = checkpoints.write(gpt.checkpoint(tokenizerIdentity, metadata()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a checkpoint of step " + gpt.step() + " to "
                    + checkpoints.directory() + ": " + e.getMessage() + "; check free space and permissions", e);
        }
        lastCheckpointStep = gpt.step();
        lastCheckpointNanos = System.nanoTime();
        changedSinceCheckpoint = false;
        return lastCheckpoint;
    }

    /** What a checkpoint carries besides the model: see {@link #checkpoint()}. */
    private Map<String, String> metadata() {
        Map<String, String> resend = new TreeMap<>();
        emitted.writeTo(resend);
        Map<String, String> metadata = new LinkedHashMap<>(ledger.snapshot(runId, Instant.now(), resend)
                .toMetadata());
        if (bestEvalStep >= 0) {
            metadata.put(BEST_EVAL_LOSS_KEY, Double.toString(bestEvalLoss));
            metadata.put(BEST_EVAL_STEP_KEY, Long.toString(bestEvalStep));
        }
        return metadata;
    }

    // ---- reading ------------------------------------------------------------------------------

    /** Optimizer steps applied so far, over the whole run (restored steps included). */
    public synchronized long step() { return gpt.step(); }
    public synchronized long batchesTrained() { return ledger.batchesTrained(); }
    public synchronized long tokensTrained() { return ledger.tokensTrained(); }
    /** The checksum of the applied batches of every dataset, restored ones included ({@code batches.checksum.*}). */
    public synchronized Map<String, Long> batchChecksums() { return ledger.batchChecksums(); }
    /** The last handled offset of every input partition seen or restored. */
    public synchronized Map<TopicPartition, Long> handledOffsets() { return ledger.offsets(); }
    /** The next offset of every dead-letter partition, as of the last dead letter sent or restored. */
    public synchronized Map<Integer, Long> deadLetterPositions() { return ledger.deadLetterPositions(); }
    public synchronized Optional<Path> lastCheckpoint() { return Optional.ofNullable(lastCheckpoint); }
    /**
     * Whether a step or a dead letter happened since the last checkpoint (or since start, when none exists), or the
     * records it carries to re-send were delivered.
     */
    public synchronized boolean changedSinceCheckpoint() { return changedSinceCheckpoint; }
    /** The checkpoint this model was restored from, if any. */
    public Optional<Path> restoredFrom() { return restoredFrom; }
    public String runId() { return runId; }
    /**
     * Whether this run id is new: no checkpoint, no run file, none configured. A new run has sent nothing yet, so
     * there is nothing of it to find on the topics.
     */
    public boolean newRun() { return newRun; }
    public Tokenizer tokenizer() { return tokenizer; }
    public TokenizerIdentity tokenizerIdentity() { return tokenizerIdentity; }
    public GptConfig config() { return gpt.config(); }
    public String backendName() { return gpt.kernels().backendName(); }
    public String deviceName() {
        return replicas == null ? gpt.kernels().deviceName() : replicas.replicas() + " x " + gpt.kernels().deviceName();
    }
    /** Model replicas trained data-parallel in this process (1: one model). */
    public int replicas() { return replicas == null ? 1 : replicas.replicas(); }
    public TrainingMeters meters() { return meters; }

    /** Releases the model and its backend (no checkpoint: call {@link #checkpoint()} first for that). */
    @Override
    public synchronized void close() {
        try {
            if (replicas != null) {
                replicas.close();
            } else {
                gpt.close();
            }
        } finally {
            try {
                lock.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot release the lock of " + checkpoints.directory(), e);
            }
        }
    }
}
