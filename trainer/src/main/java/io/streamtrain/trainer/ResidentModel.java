package io.streamtrain.trainer;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.EvalResult;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.internal.CheckpointCadence;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.EmittedRecords;
import io.streamtrain.trainer.internal.HeldOutModel;
import io.streamtrain.trainer.internal.HeldOutState;
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
public final class ResidentModel implements AutoCloseable, HeldOutModel {
    /** Checkpoint metadata: the lowest held-out loss of the run so far, and its step. */
    public static final String BEST_EVAL_LOSS_KEY = HeldOutState.BEST_LOSS_KEY;
    public static final String BEST_EVAL_STEP_KEY = HeldOutState.BEST_STEP_KEY;

    private final Gpt gpt;               // replica 0 when data-parallel: it speaks for the model
    private final DataParallelGpt replicas; // null with one replica
    private final Tokenizer tokenizer;
    private final TokenizerIdentity tokenizerIdentity;
    private final ModelStart.RunId run;
    private final CheckpointStore.Lock lock;
    private final TrainingMeters meters;
    private final CheckpointStore checkpoints;
    private final CheckpointCadence cadence;
    private final RunningLedger ledger;
    private final EmittedRecords emitted;
    private final HeldOutState heldOut;
    private final Optional<Path> restoredFrom;

    private ResidentModel(Gpt gpt, DataParallelGpt replicas, Tokenizer tokenizer, ModelStart.RunId run,
                          CheckpointStore checkpoints, CheckpointStore.Lock lock, TrainerConfig config,
                          Optional<CheckpointStore.Loaded> restored, PrintStream log) {
        this.gpt = gpt;
        this.replicas = replicas;
        this.run = run;
        this.lock = lock;
        this.tokenizer = tokenizer;
        this.tokenizerIdentity = ModelStart.identityOf(tokenizer);
        this.checkpoints = checkpoints;
        this.meters = new TrainingMeters(gpt.kernels()::allocatedBytes);
        meters.replicas(replicas());
        meters.localRanks(0, replicas());
        this.restoredFrom = restored.map(CheckpointStore.Loaded::path);
        this.cadence = new CheckpointCadence(config.checkpointEverySteps(), config.checkpointEverySeconds(),
                gpt.step(), restoredFrom);
        Map<String, String> metadata = restored.map(loaded -> loaded.checkpoint().metadata()).orElse(Map.of());
        RunLedger kept = RunLedger.of(metadata);
        this.ledger = new RunningLedger(kept);
        this.emitted = EmittedRecords.of(kept.resendBuffer(), run.runId(), log);
        this.heldOut = new HeldOutState(gpt, config.batchRows(), config.sequenceLength(),
                HeldOutState.bestCheckpoints(config), () -> gpt.checkpoint(tokenizerIdentity, metadata()), metadata);
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
        Optional<Path> initFrom = config.initFrom().isEmpty() ? Optional.empty() : Optional.of(Path.of(config.initFrom()));
        GptConfig shape = ModelStart.shape(config, tokenizer, initFrom);
        String modelName = initFrom.map(Path::toString).orElse(config.model());
        Backends.requireUsable(config.backend()); // before the run directory is made: no empty one left behind
        CheckpointStore store = new CheckpointStore(config.checkpointDir(), config.checkpointKeep());
        String holder = ModelStart.lockHolder();
        CheckpointStore.Lock lock = store.lock(holder);
        try {
            store.removeInterruptedWrites(log);
            Optional<CheckpointStore.Loaded> restored = store.loadNewest(log);
            restored.ifPresent(loaded -> ModelStart.requireCompatible(loaded, shape, ModelStart.identityOf(tokenizer),
                    modelName));
            ModelStart.RunId run = ModelStart.RunId.settle(config, restored, store);
            lock.describe(holder + ", run " + run.runId());
            TrainingOptions options = ModelStart.trainingOptions(config);
            Optional<Checkpoint> start = ModelStart.start(restored, initFrom, tokenizer, shape, config.seed(), log);
            DataParallelGpt replicas = config.replicas() == 1 ? null
                    : ModelStart.replicas(config, shape, start, options, log);
            Gpt gpt = replicas != null ? replicas.replica(0) : ModelStart.gpt(start, shape,
                    Backends.open(config.backend(), config.cpuThreads(), log), options, config.seed(), config.dropout());
            ResidentModel model = new ResidentModel(gpt, replicas, tokenizer, run, store, lock, config, restored, log);
            log.println(restored.map(loaded -> "restored " + loaded.path() + ": step " + gpt.step() + ", "
                            + model.ledger.batchesTrained() + " batches, offsets " + model.ledger.offsets())
                    .orElse("no checkpoint in " + store.directory() + ": new " + initFrom.map(dir -> "model from " + dir)
                            .orElse(config.model() + " model") + " (" + shape.parameterCount() + " parameters"
                            + (initFrom.isEmpty() ? ", seed " + config.seed() : "") + ")")
                    + "; run " + run.runId() + (run.newRun() ? " (new)" : ""));
            return model;
        } catch (IOException | RuntimeException e) {
            lock.close();
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
        cadence.changed();
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
     * The held-out evaluation of a stop, made after its step's metrics record was forwarded, in that record
     * ({@link EmittedRecords#completeWith}: same key and time, the evaluation's figures added), kept for the next
     * checkpoint in place of the first until {@link #emittedRecordsDelivered}; empty when the newest record forwarded
     * is not of that step.
     */
    public synchronized Optional<EmittedRecords.Emitted> completeEmittedWith(Evaluation evaluation) {
        Optional<EmittedRecords.Emitted> completed = emitted.completeWith(evaluation);
        completed.ifPresent(record -> cadence.changed());
        return completed;
    }

    /**
     * Says that every record emitted so far was delivered (Kafka Streams closed cleanly, which flushes its
     * producer): the next checkpoint, even of the same step, carries none, so a clean restart sends nothing again.
     */
    public synchronized void emittedRecordsDelivered() {
        if (!emitted.isEmpty()) {
            emitted.clear();
            cadence.changed();
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

    @Override
    public synchronized void addEvaluationBatch(CheckedTokens batch, int capacity) {
        heldOut.addEvaluationBatch(batch, capacity);
    }

    @Override
    public synchronized Optional<EvalResult> evaluate() {
        return heldOut.evaluate();
    }

    @Override
    public synchronized int evaluationBatches() {
        return heldOut.evaluationBatches();
    }

    @Override
    public synchronized long evaluationTokens() {
        return heldOut.evaluationTokens();
    }

    @Override
    public synchronized boolean recordEvaluation(long step, double loss) {
        boolean best = heldOut.recordEvaluation(step, loss);
        if (best) {
            cadence.changed();
        }
        return best;
    }

    @Override
    public synchronized double bestEvaluationLoss() { return heldOut.bestEvaluationLoss(); }

    @Override
    public synchronized long bestEvaluationStep() { return heldOut.bestEvaluationStep(); }

    @Override
    public synchronized Optional<Path> checkpointBest() {
        return heldOut.checkpointBest();
    }

    /**
     * Records that the record at {@code offset} is on the dead-letter topic: handled (never replayed) and counted;
     * {@code deadLetterPositions} (dead-letter partition to next offset)
     * go into the checkpoints, where a restart starts looking for dead letters sent after them.
     */
    public synchronized void recordDeadLetter(TopicPartition partition, long offset, DeadLetterReason reason,
                                              String message, Map<Integer, Long> deadLetterPositions) {
        ledger.deadLettered(partition, offset, deadLetterPositions);
        cadence.changed();
        meters.recordDeadLetter(reason);
    }

    /** {@code maxNewTokens} ids generated after {@code prompt}. */
    public synchronized int[] generate(int[] prompt, int maxNewTokens, SamplingOptions sampling, long seed) {
        return gpt.generate(prompt, maxNewTokens, sampling, seed);
    }

    /** Writes a checkpoint when the step or time cadence says so; the path written, or empty. */
    public synchronized Optional<Path> checkpointIfDue() {
        return cadence.due(gpt.step()) ? Optional.of(checkpoint()) : Optional.empty();
    }

    /**
     * Writes a checkpoint now, unless nothing changed since the last one (then returns it): model, optimizer, step,
     * tokenizer, and in metadata the handled offset of every partition, the run id, the batches and tokens trained,
     * the batch checksum of every dataset, the best held-out loss and its step, and the metrics and sample records of
     * the last steps. Keeps the newest {@code checkpoint.keep}.
     */
    public synchronized Path checkpoint() {
        Optional<Path> unchanged = cadence.unchanged();
        if (unchanged.isPresent()) {
            return unchanged.get();
        }
        try {
            return cadence.written(checkpoints.write(gpt.checkpoint(tokenizerIdentity, metadata())), gpt.step());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a checkpoint of step " + gpt.step() + " to "
                    + checkpoints.directory() + ": " + e.getMessage() + "; check free space and permissions", e);
        }
    }

    /** What a checkpoint carries besides the model: see {@link #checkpoint()}. */
    private Map<String, String> metadata() {
        Map<String, String> resend = new TreeMap<>();
        emitted.writeTo(resend);
        Map<String, String> metadata = new LinkedHashMap<>(ledger.snapshot(run.runId(), Instant.now(), resend)
                .toMetadata());
        heldOut.writeTo(metadata);
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
    public synchronized Optional<Path> lastCheckpoint() { return cadence.last(); }
    /**
     * Whether a step or a dead letter happened since the last checkpoint (or since start, when none exists), or the
     * records it carries to re-send were delivered.
     */
    public synchronized boolean changedSinceCheckpoint() { return cadence.changedSinceLast(); }
    /** The checkpoint this model was restored from, if any. */
    public Optional<Path> restoredFrom() { return restoredFrom; }
    public String runId() { return run.runId(); }
    /**
     * Whether this run id is new: no checkpoint, no run file, none configured. A new run has sent nothing yet, so
     * there is nothing of it to find on the topics.
     */
    public boolean newRun() { return run.newRun(); }
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
