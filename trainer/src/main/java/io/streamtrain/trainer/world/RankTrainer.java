package io.streamtrain.trainer.world;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.cuda.Nccl;
import io.streamtrain.cuda.NcclReducer;
import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.Backends;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.DeadLetters;
import io.streamtrain.trainer.ResidentModel;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.internal.BadBatchException;
import io.streamtrain.trainer.internal.BatchValidator;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.internal.GroupPosition;
import io.streamtrain.trainer.internal.TrainingStepProcessor;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

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
 * the world is restarted as a whole and forms the next generation at the rendezvous. A rank's shutdown (Ctrl-C) is
 * told to the others in the next round's exchange: all write a final checkpoint and stop together.
 *
 * <p>Bad records: a record a rank cannot train (not a TokenBatch, a batch the validator refuses, a step that was not
 * finite) goes to the dead-letter topic through {@link DeadLetters}, as in the one-process trainer, before its offset
 * counts as handled; each rank's ledger carries its dead-letter positions into the world's checkpoint, and a restarted
 * rank finds the dead letters of the run sent after it, so a replayed bad record is not sent twice. The run id is the
 * same on every rank: configured, else the checkpoint's, else {@code <checkpoint.dir>/run-id}, which rank 0 writes
 * before it publishes the world and the other ranks read once they have joined it.
 */
public final class RankTrainer implements AutoCloseable {
    private static final String WORLD_SIZE_KEY = "world.size";
    private static final String WORLD_GENERATION_KEY = "world.generation";

    private final TrainerConfig config;
    private final PrintStream log;
    private final int rank;
    private final int worldSize;
    private final Gpt gpt;
    private final SocketReducer link;
    private final GradientReducer gradients;
    private final long generation;
    private final TokenizerIdentity identity;
    private final String runId;
    private final CheckpointStore checkpoints;
    private final List<TopicPartition> partitions;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaProducer<String, byte[]> metrics; // rank 0's TrainingMetrics records; null on the others
    private final ArrayDeque<ConsumerRecord<byte[], byte[]>> pending = new ArrayDeque<>();
    private final BatchValidator validator;
    private final DeadLetters deadLetters;
    private final Map<Integer, Long> deadLetterPositions = new TreeMap<>(); // the checkpoint's, then this rank's
    // the ledger: restored from the checkpoint, then this rank's own changes
    private final Map<TopicPartition, Long> handled = new LinkedHashMap<>();
    private final Map<String, Long> checksums = new TreeMap<>();
    private final Set<String> touched = new HashSet<>();
    private final long restoredBatches;
    private final long restoredTokens;
    private long batchesTrained; // this rank's since the restore
    private long tokensTrained;
    private long worldBatches; // every rank's, restored ones included (summed each step)
    private long lastStepNanos;
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
        this.identity = new TokenizerIdentity(tokenizer.name(), tokenizer.vocabularySize(), tokenizer.fingerprint());
        GptConfig gptConfig = GptConfig.preset(config.model(), tokenizer.vocabularySize());
        this.checkpoints = new CheckpointStore(config.checkpointDir(), config.checkpointKeep());
        Optional<CheckpointStore.Loaded> restored = checkpoints.loadNewest(log);
        restored.ifPresent(loaded -> {
            Checkpoint c = loaded.checkpoint();
            if (!c.config().equals(gptConfig) || !c.tokenizer().equals(identity)) {
                throw new IllegalStateException("checkpoint " + loaded.path() + " holds " + c.config() + " with "
                        + c.tokenizer() + ", not the configured " + gptConfig + " with " + identity);
            }
        });
        RunLedger restoredLedger = RunLedger.of(restored.map(l -> l.checkpoint().metadata()).orElse(Map.of()));
        handled.putAll(restoredLedger.offsets());
        checksums.putAll(restoredLedger.batchChecksums());
        restoredBatches = restoredLedger.batchesTrained();
        restoredTokens = restoredLedger.tokensTrained();
        worldBatches = restoredBatches;
        deadLetterPositions.putAll(restoredLedger.deadLetterPositions());
        // rank 0 settles a run id before it publishes the world; the others read it after joining (below)
        String configuredRunId = !config.runId().isEmpty() ? config.runId() : (restoredLedger.runId().isEmpty() ? null : restoredLedger.runId());
        boolean newRun = false;
        if (configuredRunId == null && rank == 0) {
            Optional<String> persisted = checkpoints.runId();
            newRun = persisted.isEmpty();
            configuredRunId = persisted.orElseGet(TrainerConfig::generateRunId);
            checkpoints.writeRunId(configuredRunId);
        }
        this.validator = new BatchValidator(identity, gptConfig.contextLength(), config.batchRows(),
                config.sequenceLength());

        boolean cuda = useCuda(config.backend());
        Rendezvous rendezvous = new Rendezvous(config.kafkaClients(), config.controlTopic(), config.applicationId());
        Duration join = Duration.ofSeconds(config.worldJoinSeconds());
        Rendezvous.Formed<?> formed;
        if (rank == 0) {
            byte[] ncclId = cuda ? Nccl.load().uniqueId() : new byte[0];
            String host = config.worldHost().isEmpty() ? InetAddress.getLocalHost().getHostAddress() : config.worldHost();
            Rendezvous.Formed<SocketReducer.Listener> lead = rendezvous.lead(host, worldSize, ncclId);
            log.println("rank 0 of " + worldSize + ": generation " + lead.world().generation() + " at "
                    + lead.world().address() + " on " + config.controlTopic() + "; waiting for the other ranks");
            this.link = lead.link().accept(join);
            formed = lead;
        } else {
            Rendezvous.Formed<SocketReducer> joined = rendezvous.join(worldSize, rank, join);
            this.link = joined.link();
            formed = joined;
        }
        this.generation = formed.world().generation();
        this.runId = configuredRunId != null ? configuredRunId : checkpoints.runId().orElseThrow(
                () -> new IllegalStateException("rank 0 of the world wrote no run id in " + checkpoints.directory()
                        + "/" + CheckpointStore.RUN_ID_FILE + ": every rank must see the same checkpoint.dir"
                        + " (a shared file system), or set run.id"));
        log.println("rank " + rank + " of " + worldSize + " joined generation " + generation);

        TrainingOptions options = ResidentModel.trainingOptions(config);
        Kernels kernels;
        if (cuda) {
            int gpus = CudaDevice.count();
            CudaKernels device = CudaKernels.open(rank % gpus);
            this.gradients = NcclReducer.initRank(Nccl.load(), device, formed.world().ncclId(), worldSize, rank);
            kernels = device;
            log.println("rank " + rank + ": GPU " + rank % gpus + " (" + device.deviceName() + "), NCCL");
        } else {
            kernels = Backends.open("cpu", config.cpuThreads(), log);
            this.gradients = link;
        }
        this.gpt = restored.isPresent() ? Gpt.restore(restored.get().checkpoint(), kernels, options)
                : Gpt.initialize(gptConfig, kernels, options, config.seed());

        Map<String, Object> consumerProperties = config.kafkaClients().clientConfig();
        consumerProperties.remove(ConsumerConfig.GROUP_ID_CONFIG); // partitions assigned, no group
        consumerProperties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        consumerProperties.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "16");
        this.consumer = new KafkaConsumer<>(consumerProperties, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.partitions = assign(consumer, config.tokenBatchesTopic(), rank, worldSize);
        for (TopicPartition partition : partitions) {
            Long offset = handled.get(partition);
            if (offset == null) {
                consumer.seekToBeginning(List.of(partition));
            } else {
                consumer.seek(partition, offset + 1);
            }
        }
 
        int deadLetterLimit;
        try (Admin admin = Admin.create(config.kafkaClients().clientConfig())) {
            GroupPosition position = new GroupPosition(admin, Duration.ofSeconds(30), log);
            position.createMissingTopics(List.of(config.deadLettersTopic()));
            deadLetterLimit = position.maxMessageBytes(config.deadLettersTopic());
        }
        this.deadLetters = DeadLetters.open(config.kafkaClients(), config.applicationId() + "-rank-" + rank,
                config.deadLettersTopic(), deadLetterLimit, runId, newRun ? null : deadLetterPositions, handled,
                Duration.ofSeconds(30), log);
        if (rank == 0) {
            Map<String, Object> producerProperties = config.kafkaClients().clientConfig();
            producerProperties.put(ProducerConfig.ACKS_CONFIG, "all");
            this.metrics = new KafkaProducer<>(producerProperties, new StringSerializer(), new ByteArraySerializer());
        } else {
            this.metrics = null;
        }
        log.println("rank " + rank + ": partitions " + partitions.stream().map(p -> Integer.toString(p.partition()))
                .collect(Collectors.joining(",")) + " of " + config.tokenBatchesTopic() + restored
                .map(l -> ", restored " + l.path() + " (step " + gpt.step() + ", " + restoredBatches + " batches)")
                .orElse(", new model") + "; run " + runId);
    }

    private static boolean useCuda(String backend) {
        return switch (backend) {
            case "cuda" -> true;
            case "cpu" -> false;
            default -> CudaDevice.probe().available();
        };
    }

    /**
     * Partitions p of {@code topic} with p mod W = rank, assigned to the consumer.
     *
     * @throws IllegalStateException when the topic has fewer partitions than ranks (a rank would have none)
     */
    static List<TopicPartition> assign(KafkaConsumer<?, ?> consumer, String topic, int rank, int worldSize) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(60));
        int count = infos == null ? 0 : infos.size();
        if (count < worldSize) {
            throw new IllegalStateException("topic " + topic + " has " + count + " partition(s), fewer than the "
                    + worldSize + " ranks: every rank needs at least one; add partitions (kafka-topics --alter"
                    + " --partitions " + worldSize + ") or lower --world-size");
        }
        List<TopicPartition> mine = new ArrayList<>();
        for (int p = rank; p < count; p += worldSize) {
            mine.add(new TopicPartition(topic, p));
        }
        consumer.assign(mine);
        return mine;
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
        try {
            while (true) {
                boolean done = (maxSteps > 0 && gpt.step() >= maxSteps) || (maxBatches > 0 && worldBatches >= maxBatches);
                ConsumerRecord<byte[], byte[]> record = done ? null : nextRecord();
                int[] tokens = new int[0];
                TokenBatch batch = null;
                if (record != null) {
                    try {
                        batch = TrainingStepProcessor.decode(record.value(),
                                new TopicPartition(record.topic(), record.partition()), record.offset());
                        tokens = validator.validateAndDecode(batch).clone();
                    } catch (BadBatchException e) {
                        deadLetter(record, e.reason(), e.getMessage());
                        batch = null;
                    }
                }
                int rows = batch == null ? 0 : B;
                float[] round = link.allReduce(new float[] {rows, batch == null ? 0 : 1,
                        stopRequested || done ? 1 : 0});
                int globalRows = (int) round[0];
                boolean stopping = round[2] > 0;
                if (globalRows > 0) {
                    StepResult result = gpt.trainStep(tokens, rows, T, globalRows, gradients);
                    worldBatches += (long) round[1];
                    if (batch != null) {
                        TopicPartition partition = new TopicPartition(record.topic(), record.partition());
                        handled.put(partition, record.offset());
                        if (result.applied()) {
                            batchesTrained++;
                            tokensTrained += (long) B * T;
                            checksums.merge(batch.getDataset(), batch.getSequence(), (h, s) -> 31 * h + s);
                            touched.add(batch.getDataset());
                        } else {
                            BadBatchException e = new BadBatchException(DeadLetterReason.NON_FINITE_STEP,
                                    BatchValidator.describe(batch) + " was in a global step of loss " + result.loss()
                                    + " and gradient norm " + result.gradientNorm()
                                    + "; the update was skipped and the model is unchanged");
                            deadLetter(record, e.reason(), e.getMessage());
                        }
                    }
                    if (rank == 0) {
                        log.printf("step %d: loss %.4f, %d rows in %d batch(es) of %d ranks, %d batches in all%n",
                                gpt.step(), result.loss(), globalRows, (int) round[1], worldSize, worldBatches);
                        emitMetrics(result, (long) globalRows * T, batch == null ? null : record);
                    }
                    long every = config.checkpointEverySteps();
                    if (!stopping && every > 0 && gpt.step() % every == 0) {
                        checkpoint();
                    }
                }
                if (stopping) {
                    checkpoint();
                    return;
                }
            }
        } finally {
            finished = true;
        }
    }

    /**
     * Rank 0's TrainingMetrics record of the step just taken, keyed by run and step like the one-process trainer's:
     * the loss and accuracy of the global batch, its tokens, device "W ranks x ...", the source of rank 0's batch (or
     * none). Sent without waiting; a crash may lose the last ones (they are not re-sent as the one-process trainer's).
     */
    private void emitMetrics(StepResult result, long stepTokens, ConsumerRecord<byte[], byte[]> source) {
        long now = System.nanoTime();
        double seconds = lastStepNanos == 0 ? Double.NaN : (now - lastStepNanos) / 1e9;
        lastStepNanos = now;
        Instant time = Instant.now();
        TrainingMetrics record = TrainingMetrics.newBuilder()
                .setRunId(runId).setStep(gpt.step()).setTime(time)
                .setLoss(result.loss()).setAccuracy(result.accuracy()).setPerplexity(Math.exp(result.loss()))
                .setLearningRate(result.learningRate()).setGradientNorm(result.gradientNorm())
                .setTokens(stepTokens).setTokensPerSecond(Double.isNaN(seconds) ? 0 : stepTokens / seconds)
                .setWaitMillis(0).setComputeMillis(Double.isNaN(seconds) ? 0 : seconds * 1e3).setEmitMillis(0)
                .setBackend(gpt.kernels().backendName())
                .setDevice(worldSize + " ranks x " + gpt.kernels().deviceName())
                .setSourceTopic(config.tokenBatchesTopic())
                .setSourcePartition(source == null ? -1 : source.partition())
                .setSourceOffset(source == null ? -1 : source.offset())
                .build();
        metrics.send(new ProducerRecord<>(config.metricsTopic(), Topics.runStepKey(runId, gpt.step()),
                AvroSerdes.trainingMetrics().serializer().serialize(config.metricsTopic(), record)));
    }

    /** Sends the record to the dead-letter topic (once per run), then counts its offset as handled. */
    private void deadLetter(ConsumerRecord<byte[], byte[]> record, DeadLetterReason reason, String message) {
        TopicPartition partition = new TopicPartition(record.topic(), record.partition());
        DeadLetterReason sentAs = deadLetters.send(record.key(), record.value(), partition, record.offset(), reason,
                message);
        deadLetterPositions.putAll(deadLetters.positions());
        handled.put(partition, record.offset());
        log.println("rank " + rank + ": dead-lettered the record at " + partition + "@" + record.offset() + " to "
                + deadLetters.topic() + " (" + sentAs.code() + "): " + message);
    }

    /** The next record of this rank's partitions, waiting up to world.wait.ms; null when none came. */
    private ConsumerRecord<byte[], byte[]> nextRecord() {
        if (pending.isEmpty()) {
            long deadline = System.nanoTime() + config.worldWaitMillis() * 1_000_000L;
            while (pending.isEmpty()) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    break;
                }
                consumer.poll(Duration.ofMillis(left)).forEach(pending::add);
            }
        }
        return pending.poll();
    }

    /** Rank 0 gathers every rank's ledger and writes the world's checkpoint at this step boundary. */
    private void checkpoint() {
        List<String> ledgers = link.gather(ledger());
        if (rank != 0) {
            return;
        }
        Map<TopicPartition, Long> offsets = new TreeMap<>((a, b) -> a.topic().equals(b.topic())
                ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
        offsets.putAll(handled);
        Map<String, Long> sums = new TreeMap<>(checksums);
        Map<Integer, Long> letters = new TreeMap<>(deadLetterPositions);
        long allBatches = restoredBatches;
        long allTokens = restoredTokens;
        for (String text : ledgers) {
            Properties ledger = new Properties();
            try {
                ledger.load(new StringReader(text));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Map<String, String> entries = new LinkedHashMap<>();
            ledger.stringPropertyNames().forEach(key -> entries.put(key, ledger.getProperty(key)));
            RunLedger rank = RunLedger.of(entries);
            offsets.putAll(rank.offsets());
            sums.putAll(rank.batchChecksums());
            rank.deadLetterPositions().forEach((p, next) -> letters.merge(p, next, Math::max));
            allBatches += Long.parseLong(ledger.getProperty("batches"));
            allTokens += Long.parseLong(ledger.getProperty("tokens"));
        }
        Map<String, String> world = new LinkedHashMap<>();
        world.put(WORLD_SIZE_KEY, Integer.toString(worldSize));
        world.put(WORLD_GENERATION_KEY, Long.toString(generation));
        Map<String, String> metadata = new RunLedger(runId, Optional.of(Instant.now()), allBatches, allTokens, offsets,
                sums, letters, Map.of(), world).toMetadata();
        try {
            Path path = checkpoints.write(gpt.checkpoint(identity, metadata));
            log.println("checkpoint of step " + gpt.step() + " written to " + path + " (" + allBatches + " batches)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the world's checkpoint of step " + gpt.step() + " to "
                    + checkpoints.directory() + ": " + e.getMessage(), e);
        }
    }

    /** This rank's part of a checkpoint: its partitions' offsets, its datasets' checksums, its counts. */
    private String ledger() {
        Properties ledger = new Properties();
        for (TopicPartition partition : partitions) {
            Long offset = handled.get(partition);
            if (offset != null) {
                ledger.setProperty(RunLedger.offsetKey(partition), Long.toString(offset));
            }
        }
        for (String dataset : touched) {
            ledger.setProperty(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + dataset, Long.toString(checksums.get(dataset)));
        }
        deadLetterPositions.forEach((p, next) ->
                ledger.setProperty(RunLedger.DEAD_LETTERS_NEXT_KEY_PREFIX + p, Long.toString(next)));
        ledger.setProperty("batches", Long.toString(batchesTrained));
        ledger.setProperty("tokens", Long.toString(tokensTrained));
        StringWriter text = new StringWriter();
        try {
            ledger.store(text, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return text.toString();
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
        consumer.close();
        deadLetters.close();
        if (metrics != null) {
            metrics.close(Duration.ofSeconds(30)); // flushes the last records
        }
        if (gradients instanceof NcclReducer nccl) {
            nccl.close();
        }
        link.close();
        gpt.close();
    }
}
