package io.streamtrain.trainer.world;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.DeadLetters;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.BadBatchException;
import io.streamtrain.trainer.internal.BatchValidator;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.CollectiveWatchdog;
import io.streamtrain.trainer.internal.MetricsServer;
import io.streamtrain.trainer.TrainingMeters;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.streamtrain.trainer.internal.Evaluator;
import io.streamtrain.trainer.internal.GroupPosition;
import io.streamtrain.trainer.internal.LossSpikeGuard;
import io.streamtrain.trainer.internal.ModelStart;
import io.streamtrain.trainer.internal.TrainingStepProcessor;
import io.streamtrain.cuda.NcclReducer;
import io.streamtrain.trainer.world.internal.RankBackend;
import io.streamtrain.trainer.world.internal.RankFeeding;
import io.streamtrain.trainer.world.internal.RankInput;
import io.streamtrain.trainer.world.internal.RankLedger;
import io.streamtrain.trainer.world.internal.RankReports;
import io.streamtrain.trainer.world.internal.WorldJoin;
import io.streamtrain.trainer.world.internal.WorldRunId;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * One rank of a data-parallel world of trainer processes ({@code train --world-size W --rank R}): its own model
 * replica (CPU, or GPU R mod the GPUs of its host), its own partitions of the token-batch topic (partition p belongs
 * to rank p mod W, read with a plain consumer from the checkpoint's offset + 1, no consumer group), and a global step
 * per round: each rank waits up to {@code world.wait.ms} for one batch, the ranks sum their row counts, and when any
 * has rows every rank takes the step (a rank without a batch contributes zero rows), its gradients summed over the
 * world (NCCL on GPUs, {@link SocketReducer} on CPUs).
 *
 * <p>Checkpoints: every {@code checkpoint.every.steps} global steps, and at the end, rank 0 gathers every rank's
 * ledger (the last handled offset of each of its partitions, the checksums of the datasets it trained, its batch and
 * token counts) and writes one checkpoint at that step boundary: rank 0's weights (every rank holds the same), the
 * AdamW state, and the ledger of the whole world, in the metadata keys of the one-process trainer. So a restart of
 * the world with any W, or of the Kafka Streams trainer, resumes exactly once. The checkpoint directory must be one
 * that every rank reads (a shared file system across hosts): each rank restores from it.
 *
 * <p>Failure: a rank that dies breaks its sockets, so every other rank fails its next step with an error and exits;
 * the world is restarted as a whole and forms the next generation at the rendezvous. A rank that hangs breaks
 * nothing, so every wait on the others (the round's exchange, the step's all-reduce, the checkpoint's gather) runs
 * under a {@link CollectiveWatchdog}: past {@code world.timeout.ms}, or at once when NCCL reports a peer's failure,
 * it aborts the NCCL communicator and closes the sockets, and the rank fails naming its world and the phase. A rank's
 * shutdown (Ctrl-C) is told to the others in the next round's exchange: all write a final checkpoint and stop
 * together.
 *
 * <p>Bad records: a record a rank cannot train (not a TokenBatch, a batch the validator refuses, a step that was not
 * finite) goes to the dead-letter topic through {@link DeadLetters}, as in the one-process trainer, before its offset
 * counts as handled; each rank's ledger carries its dead-letter positions into the world's checkpoint, and a restarted
 * rank finds the dead letters of the run sent after it, so a replayed bad record is not sent twice. The run id is the
 * same on every rank: configured, else the checkpoint's, else {@code <checkpoint.dir>/run-id}, which rank 0 writes
 * before it publishes the world and the other ranks read once they have joined it.
 *
 * <p>Reports: rank 0 reports for the world what the one-process trainer reports ({@link RankReports}): the console's
 * summary line every {@code summary.every.steps}, each step's metrics record with its spike, the held-out evaluation (rank 0 evaluates; at each evaluated step every rank sends
 * its ledger to rank 0, so that a best checkpoint carries the world's), the samples, and after a restart the records
 * of the restored checkpoint's last steps once more. The other ranks print, as often, how many batches their
 * partitions gave ({@link RankFeeding}). With {@code loss.spike.ratio}, each rank refuses its own batch when its loss
 * is a spike.
 */
public final class RankTrainer implements AutoCloseable {
    private static final String WORLD_SIZE_KEY = "world.size";
    private static final String WORLD_GENERATION_KEY = "world.generation";

    private final TrainerConfig config;
    private final PrintStream log;
    private final int rank;
    private final int worldSize;
    private final Gpt gpt;
    private final WorldJoin world;
    private final RankBackend backend;
    private final CollectiveWatchdog watchdog;
    private final TrainingMeters meters;
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final MetricsServer metricsServer; // null unless metrics.port is set
    private final TokenizerIdentity identity;
    private final String runId;
    private final CheckpointStore checkpoints;
    private final RankInput input;
    private final RankReports reports; // rank 0's metrics, samples and evaluations; null on the others
    private final LossSpikeGuard lossSpikes;
    private final long startStep; // the step restored: later steps were trained by this world
    private RunLedger worldLedger; // rank 0: the world's ledger at the last gather
    private final BatchValidator validator;
    private final DeadLetters deadLetters;
    private final RankLedger ledger; // restored from the checkpoint, then this rank's own changes
    private long worldBatches; // every rank's, restored ones included (summed each step)
    private final RankFeeding feeding; // the console line of a rank but 0
    private volatile boolean stopRequested;
    private volatile boolean finished;

    public RankTrainer(TrainerConfig config, PrintStream log) throws IOException {
        this.config = config;
        this.log = log;
        this.rank = config.worldRank();
        this.worldSize = config.worldSize();
        if (rank >= worldSize) {
            throw new IllegalArgumentException("world.rank " + rank + " is not in [0, world.size=" + worldSize + ")");
        }
        Tokenizer tokenizer = Tokenizers.open(config.tokenizer());
        this.identity = ModelStart.identityOf(tokenizer);
        GptConfig gptConfig = GptConfig.preset(config.model(), tokenizer.vocabularySize());
        this.checkpoints = new CheckpointStore(config.checkpointDir(), config.checkpointKeep());
        Optional<CheckpointStore.Loaded> restored = checkpoints.loadNewest(log);
        restored.ifPresent(loaded -> ModelStart.requireCompatible(loaded, gptConfig, identity, config.model()));
        Map<String, String> restoredMetadata = restored.map(l -> l.checkpoint().metadata()).orElse(Map.of());
        RunLedger restoredLedger = RunLedger.of(restoredMetadata);
        this.ledger = new RankLedger(restoredLedger);
        this.worldBatches = ledger.restoredBatches();
        // rank 0 settles a run id before it publishes the world; the others read it after joining
        WorldRunId run = WorldRunId.beforeJoin(config.runId(), restoredLedger.runId(), rank, checkpoints);
        this.validator = new BatchValidator(identity, gptConfig, config.batchRows(), config.sequenceLength());

        boolean cuda = RankBackend.useCuda(config.backend());
        this.world = WorldJoin.join(config, cuda, log);
        this.runId = run.afterJoin();
        this.backend = RankBackend.open(cuda, rank, world, config, log);
        this.watchdog = watchdog(config, rank, worldSize, world.world().generation(), world.link(),
                backend.gradients());
        this.meters = new TrainingMeters(backend.kernels()::allocatedBytes);
        meters.replicas(worldSize);
        meters.localRanks(rank, 1);
        meters.bindTo(registry);
        if (config.metricsPort() > 0) {
            int port = config.metricsPort() + rank; // ranks of one host apart
            this.metricsServer = MetricsServer.start(registry, config.metricsHost(), port, config.httpAccess(),
                    Optional::empty, Optional::empty);
            log.println("rank " + rank + ": metrics on http://" + config.metricsHost() + ":" + metricsServer.port()
                    + "/metrics (metrics.port + rank)");
        } else {
            this.metricsServer = null;
        }
        this.gpt = ModelStart.gpt(restored.map(CheckpointStore.Loaded::checkpoint), gptConfig, backend.kernels(),
                ModelStart.trainingOptions(config), config.seed(), config.dropout());
        this.startStep = gpt.step();
        this.feeding = new RankFeeding(rank, config.summaryEverySteps(), log);
        this.lossSpikes = new LossSpikeGuard(config.lossSpikeRatio(), config.lossSpikeWarmupSteps());
        this.input = new RankInput(config.kafkaClients(), config.tokenBatchesTopic(), rank, worldSize,
                ledger.offsets(), config.worldWaitMillis());

        int deadLetterLimit;
        try (Admin admin = Admin.create(config.kafkaClients().clientConfig())) {
            GroupPosition position = new GroupPosition(admin, Duration.ofSeconds(30), log);
            position.createMissingTopics(rank != 0 ? List.of(config.deadLettersTopic()) : List.of(
                    config.deadLettersTopic(), config.metricsTopic(), config.samplesTopic(), config.evalTopic()));
            deadLetterLimit = position.maxMessageBytes(config.deadLettersTopic());
        }
        this.deadLetters = DeadLetters.open(config.kafkaClients(), config.applicationId() + "-rank-" + rank,
                config.deadLettersTopic(), deadLetterLimit, runId, run.newRun() ? null : ledger.deadLetterPositions(),
                ledger.offsets(), Duration.ofSeconds(30), log);
        this.reports = rank != 0 ? null : new RankReports(config, gpt, tokenizer, runId, worldSize, restoredMetadata,
                () -> gpt.checkpoint(identity, metadata(worldLedger)), meters, log);
        log.println("rank " + rank + ": partitions " + input.partitions().stream()
                .map(p -> Integer.toString(p.partition())).collect(Collectors.joining(",")) + " of "
                + config.tokenBatchesTopic() + restored
                .map(l -> ", restored " + l.path() + " (step " + gpt.step() + ", " + ledger.restoredBatches()
                        + " batches)")
                .orElse(", new model") + "; run " + runId);
    }

    /**
     * The bound on this rank's waits: NCCL's asynchronous error polled, and world.timeout.ms per phase; on either, the
     * NCCL communicator (GPU worlds) is aborted and the sockets closed, so a blocked phase returns and fails.
     */
    static CollectiveWatchdog watchdog(TrainerConfig config, int rank, int worldSize, long generation,
                                       SocketReducer link, GradientReducer gradients) {
        NcclReducer nccl = gradients instanceof NcclReducer n ? n : null;
        return new CollectiveWatchdog("rank " + rank + " of world '" + config.applicationId() + "' (generation "
                + generation + ", " + worldSize + " ranks)", Duration.ofMillis(config.worldTimeoutMillis()),
                Duration.ofMillis(Math.min(100, config.worldTimeoutMillis())),
                nccl == null ? () -> null : nccl::asyncError,
                () -> {
                    if (nccl != null) {
                        nccl.abort();
                    }
                    link.close();
                });
    }

    /** Asks the world to stop after the current step: every rank writes its part of a final checkpoint and exits. */
    public void stop() {
        stopRequested = true;
    }

    /** Whether the loop has ended (stopped or reached its limits). */
    public boolean finished() {
        return finished;
    }

    /** Trains until max.steps, max.batches or {@link #stop}; the world's last checkpoint is written at the end. */
    public void run() {
        long maxSteps = config.maxSteps();
        long maxBatches = config.maxBatches();
        int T = config.sequenceLength();
        int B = config.batchRows();
        CheckedTokens nothing = CheckedTokens.check(gpt.config(), new int[0], 0, T); // a rank without a batch
        try {
            while (true) {
                boolean done = (maxSteps > 0 && gpt.step() >= maxSteps) || (maxBatches > 0 && worldBatches >= maxBatches);
                ConsumerRecord<byte[], byte[]> record = done ? null : input.next();
                CheckedTokens tokens = nothing;
                TokenBatch batch = null;
                if (record != null) {
                    TopicPartition partition = new TopicPartition(record.topic(), record.partition());
                    try {
                        batch = TrainingStepProcessor.decode(record.value(), partition, record.offset());
                        tokens = validator.validateAndDecode(batch, partition, record.offset());
                        if (lossSpikes.enabled()) {
                            lossSpikes.refuseSpike(batch, gpt.evaluate(tokens).loss());
                        }
                    } catch (BadBatchException e) {
                        deadLetter(record, e.reason(), e.getMessage());
                        batch = null;
                    }
                }
                int rows = batch == null ? 0 : B;
                float[] mine = {rows, batch == null ? 0 : 1, stopRequested || done ? 1 : 0};
                float[] round = watchdog.guard("the exchange before step " + (gpt.step() + 1),
                        () -> world.link().allReduce(mine));
                int globalRows = (int) round[0];
                boolean stopping = round[2] > 0;
                if (globalRows > 0) {
                    CheckedTokens ids = batch == null ? nothing : tokens;
                    long stepStart = System.nanoTime();
                    StepResult result = watchdog.guard("step " + (gpt.step() + 1) + " (the gradients' all-reduce)",
                            () -> gpt.trainStep(ids, globalRows, backend.gradients()));
                    long stepNanos = System.nanoTime() - stepStart;
                    meters.recordRanks(globalRows, new long[] {(long) rows * T},
                            new long[] {backend.gradients().reduceNanos()}, stepNanos);
                    meters.recordStep(result.loss(), result.accuracy(), result.learningRate(), result.gradientNorm(),
                            (long) globalRows * T, globalRows * (double) T / (stepNanos / 1e9), stepNanos);
                    worldBatches += (long) round[1];
                    if (result.applied()) {
                        lossSpikes.record(result.loss()); // the global batch's: the same on every rank
                    }
                    if (batch != null) {
                        TopicPartition partition = new TopicPartition(record.topic(), record.partition());
                        if (result.applied()) {
                            ledger.applied(partition, record.offset(), batch.getDataset(), batch.getSequence(),
                                    (long) B * T);
                        } else {
                            BadBatchException e = new BadBatchException(DeadLetterReason.NON_FINITE_STEP,
                                    BatchValidator.describe(batch) + " was in a global step of loss " + result.loss()
                                    + " and gradient norm " + result.gradientNorm()
                                    + "; the update was skipped and the model is unchanged");
                            deadLetter(record, e.reason(), e.getMessage());
                        }
                    }
                    if (Evaluator.due(gpt.step(), config.evalEverySteps(), maxSteps)) {
                        gatherLedger("the evaluation of step " + gpt.step()); // the best checkpoint's ledger
                    }
                    if (rank == 0) {
                        reports.stepTaken(result, globalRows, batch == null ? null : record,
                                batch == null ? null : tokens.ids());
                    } else {
                        feeding.stepTaken(gpt.step(), rows > 0);
                    }
                    long every = config.checkpointEverySteps();
                    if (!stopping && every > 0 && gpt.step() % every == 0) {
                        checkpoint();
                    }
                }
                if (stopping) {
                    gatherLedger("the checkpoint of step " + gpt.step());
                    if (rank == 0) {
                        reports.stopping(gpt.step() > startStep);
                    }
                    writeCheckpoint();
                    if (rank == 0) {
                        reports.stopped();
                    }
                    return;
                }
            }
        } finally {
            finished = true;
        }
    }

    /** Sends the record to the dead-letter topic (once per run), then counts its offset as handled. */
    private void deadLetter(ConsumerRecord<byte[], byte[]> record, DeadLetterReason reason, String message) {
        TopicPartition partition = new TopicPartition(record.topic(), record.partition());
        DeadLetterReason sentAs = deadLetters.send(record.key(), record.value(), partition, record.offset(), reason,
                message);
        ledger.deadLettered(partition, record.offset(), deadLetters.positions());
        log.println("rank " + rank + ": dead-lettered the record at " + partition + "@" + record.offset() + " to "
                + deadLetters.topic() + " (" + sentAs.code() + "): " + message);
    }

    /** Rank 0 gathers every rank's ledger and writes the world's checkpoint at this step boundary. */
    private void checkpoint() {
        gatherLedger("the checkpoint of step " + gpt.step());
        writeCheckpoint();
    }

    /** Every rank sends its ledger to rank 0, which keeps the world's ledger at this step boundary. */
    private void gatherLedger(String phase) {
        String mine = ledger.part(input.partitions());
        List<String> parts = watchdog.guard(phase, () -> world.link().gather(mine));
        if (rank != 0) {
            return;
        }
        Map<String, String> worldEntries = new LinkedHashMap<>();
        worldEntries.put(WORLD_SIZE_KEY, Integer.toString(worldSize));
        worldEntries.put(WORLD_GENERATION_KEY, Long.toString(world.world().generation()));
        worldLedger = ledger.world(runId, parts, worldEntries, log::println);
    }

    /**
     * What rank 0's checkpoints carry besides the model: the world's ledger {@code whole}, the best held-out loss and
     * the records of the last steps to send again after a crash.
     */
    private Map<String, String> metadata(RunLedger whole) {
        Map<String, String> metadata = new LinkedHashMap<>(whole.toMetadata());
        reports.writeTo(metadata);
        return metadata;
    }

    /** Rank 0 writes the world's checkpoint of the last gathered ledger. */
    private void writeCheckpoint() {
        if (rank != 0) {
            return;
        }
        RunLedger whole = worldLedger;
        try {
            Path path = checkpoints.write(gpt.checkpoint(identity, metadata(whole)));
            log.println("checkpoint of step " + gpt.step() + " written to " + path + " (" + whole.batchesTrained()
                    + " batches)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the world's checkpoint of step " + gpt.step() + " to "
                    + checkpoints.directory() + ": " + e.getMessage(), e);
        }
    }

    /**
     * Runs a rank to its end with Ctrl-C as {@link #stop} (waiting up to a minute for the final checkpoint); the
     * exit status: 0 done, 1 failed (another rank died, or this one), 2 could not join or start.
     */
    public static int runToEnd(TrainerConfig config, PrintStream log) {
        RankTrainer trainer;
        try {
            trainer = new RankTrainer(config, log);
        } catch (IOException | RuntimeException e) {
            log.println("rank " + config.worldRank() + " cannot start: " + e.getMessage());
            return 2;
        }
        log.print(config); // once the rank started: not before an error that stops it
        Thread hook = new Thread(() -> {
            trainer.stop();
            long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
            while (!trainer.finished() && System.nanoTime() < deadline) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "streamtrain-rank-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try (trainer) {
            trainer.run();
            return 0;
        } catch (RuntimeException e) {
            log.println("rank " + config.worldRank() + " failed: " + e.getMessage());
            return 1;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down already: the hook is running
            }
        }
    }

    @Override
    public void close() {
        watchdog.close();
        if (metricsServer != null) {
            metricsServer.close();
        }
        registry.close();
        input.close();
        deadLetters.close();
        if (reports != null) {
            reports.close(); // flushes the last records
        }
        backend.close();
        world.link().close();
        gpt.close();
    }
}
