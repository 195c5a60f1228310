package io.streamtrain.trainer;

import io.streamtrain.schemas.HttpAccess;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.Topics;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * The trainer's configuration: every key with its default, validator and doc together, Kafka {@link ConfigDef} style.
 * Values left at their "derive" default (0 or empty) are resolved once, here: batch rows and sequence length from the
 * model preset, the run id generated, the run and checkpoint directories from the application id. {@link #toString()}
 * prints the effective values, secrets masked. Kafka client settings for every client of the trainer (admin, Kafka
 * Streams, the re-send producer) come from the {@value KafkaClientSettings#COMMAND_CONFIG} file and
 * {@code kafka.*} keys ({@link KafkaClientSettings}); keys prefixed {@value #STREAMS_PREFIX} are passed to Kafka
 * Streams only, after those (e.g. {@code streams.commit.interval.ms}).
 */
public final class TrainerConfig extends AbstractConfig {

    public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";
    public static final String APPLICATION_ID = "application.id";
    public static final String TOKEN_BATCHES_TOPIC = "topic.token.batches";
    public static final String METRICS_TOPIC = "topic.metrics";
    public static final String SAMPLES_TOPIC = "topic.samples";
    public static final String DEAD_LETTERS_TOPIC = "topic.dead.letters";
    public static final String MODELS_TOPIC = "topic.models";
    public static final String INIT_FROM = "init.from";
    public static final String MODEL = "model";
    public static final String BACKEND = "backend";
    public static final String CPU_THREADS = "cpu.threads";
    public static final String REPLICAS = "replicas";
    public static final String WORLD_SIZE = "world.size";
    public static final String WORLD_RANK = "world.rank";
    public static final String WORLD_HOST = "world.host";
    public static final String WORLD_WAIT_MS = "world.wait.ms";
    public static final String WORLD_JOIN_SECONDS = "world.join.seconds";
    public static final String WORLD_TIMEOUT_MS = "world.timeout.ms";
    public static final String CONTROL_TOPIC = "topic.control";
    public static final String MAX_BATCHES = "max.batches";
    public static final String TOKENIZER = "tokenizer";
    public static final String BATCH_ROWS = "batch.rows";
    public static final String SEQUENCE_LENGTH = "sequence.length";
    public static final String SEED = "seed";
    public static final String LEARNING_RATE = "learning.rate";
    public static final String LEARNING_RATE_WARMUP_STEPS = "learning.rate.warmup.steps";
    public static final String LEARNING_RATE_DECAY = "learning.rate.decay";
    public static final String LEARNING_RATE_DECAY_STEPS = "learning.rate.decay.steps";
    public static final String LEARNING_RATE_FLOOR_RATIO = "learning.rate.floor.ratio";
    public static final String WEIGHT_DECAY = "weight.decay";
    public static final String MAX_GRADIENT_NORM = "max.gradient.norm";
    public static final String DROPOUT = "dropout";
    public static final String MAX_STEPS = "max.steps";
    public static final String LOSS_SPIKE_RATIO = "loss.spike.ratio";
    public static final String LOSS_SPIKE_WARMUP_STEPS = "loss.spike.warmup.steps";
    public static final String SPIKE_WARNING_LOSS_RATIO = "spike.warning.loss.ratio";
    public static final String SPIKE_WARNING_GRADIENT_NORM_RATIO = "spike.warning.gradient.norm.ratio";
    public static final String SAMPLE_EVERY_STEPS = "sample.every.steps";
    public static final String SAMPLE_PROMPT_TOKENS = "sample.prompt.tokens";
    public static final String SAMPLE_MAX_NEW_TOKENS = "sample.max.new.tokens";
    public static final String SAMPLE_TEMPERATURE = "sample.temperature";
    public static final String SAMPLE_TOP_K = "sample.top.k";
    public static final String SAMPLE_FIXED_PROMPT = "sample.fixed.prompt";
    public static final String SUMMARY_EVERY_STEPS = "summary.every.steps";
    public static final String RUN_ID = "run.id";
    public static final String RUN_DIR = "run.dir";
    public static final String CHECKPOINT_DIR = "checkpoint.dir";
    public static final String CHECKPOINT_EVERY_STEPS = "checkpoint.every.steps";
    public static final String CHECKPOINT_EVERY_SECONDS = "checkpoint.every.seconds";
    public static final String CHECKPOINT_KEEP = "checkpoint.keep";
    public static final String REWIND_GROUP = "rewind.group";
    public static final String METRICS_PORT = "metrics.port";
    public static final String METRICS_HOST = "metrics.host";
    public static final String BROKER_WAIT_SECONDS = "broker.wait.seconds";
    public static final String EVAL_TOPIC = "topic.eval.batches";
    public static final String EVAL_EVERY_STEPS = "eval.every.steps";
    public static final String EVAL_BATCHES = "eval.batches";
    public static final String EVAL_OVERFIT_PATIENCE = "eval.overfit.patience";
    public static final String CHECKPOINT_BEST = "checkpoint.best";

    /** Keys with this prefix go to Kafka Streams with the prefix removed. */
    public static final String STREAMS_PREFIX = "streams.";

    public static final ConfigDef CONFIG = HttpAccess.define(KafkaClientSettings.define(new ConfigDef()
            .define(BOOTSTRAP_SERVERS, Type.LIST, "localhost:9092", ConfigDef.LambdaValidator.with((name, value) -> {
                        if (((List<?>) value).isEmpty()) {
                            throw new ConfigException(name, value, "give at least one host:port");
                        }
                    }, () -> "a non-empty list of host:port"), Importance.HIGH,
                    "Kafka brokers to connect to, host:port[,host:port...].")
            .define(APPLICATION_ID, Type.STRING, "streamtrain-trainer", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Kafka Streams application id: the consumer group and the prefix of internal names.")
            .define(TOKEN_BATCHES_TOPIC, Type.STRING, Topics.TOKEN_BATCHES, new ConfigDef.NonEmptyString(),
                    Importance.MEDIUM, "Topic of TokenBatch records to train on.")
            .define(METRICS_TOPIC, Type.STRING, Topics.METRICS, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    "Topic of TrainingMetrics records, one per step, keyed by run id and step.")
            .define(SAMPLES_TOPIC, Type.STRING, Topics.SAMPLES, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    "Topic of TextSample records, keyed by run id and step.")
            .define(DEAD_LETTERS_TOPIC, Type.STRING, Topics.DEAD_LETTERS, new ConfigDef.NonEmptyString(),
                    Importance.MEDIUM, "Topic of records the trainer could not use: original key and bytes, with the"
                            + " reason, topic, partition, offset and run id in headers (a reference when too large).")
            .define(MODELS_TOPIC, Type.STRING, Topics.MODELS, Importance.MEDIUM,
                    "Compacted topic of ModelAnnouncement records: one per checkpoint written (keyed by run id) and"
                            + " per new best model (keyed <run id>/best), with step, tokens, held-out loss where known,"
                            + " file URI and SHA-256; empty = announce nothing.")
            .define(MODEL, Type.STRING, "tiny", ConfigDef.ValidString.in("tiny", "small", "gpt2"), Importance.HIGH,
                    "Model preset: tiny (C=128, L=2), small (C=384, L=6) or gpt2 (C=768, L=12).")
            .define(BACKEND, Type.STRING, "auto", ConfigDef.ValidString.in("auto", "cpu", "cuda"), Importance.HIGH,
                    "Where the model lives: cuda, cpu, or auto (CUDA when a usable device exists, else CPU).")
            .define(CPU_THREADS, Type.INT, 0, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "Threads of the CPU backend; 0 = every available processor.")
            .define(REPLICAS, Type.INT, 1, ConfigDef.Range.between(1, 64), Importance.MEDIUM,
                    "Model replicas in this process, trained data-parallel: N GPUs (0 to N-1, gradients all-reduced"
                            + " by NCCL) or, with backend cpu, N CPU workers sharing cpu.threads (gradients summed in"
                            + " rank order: bit-reproducible). Each batch's rows are split among the replicas; one"
                            + " optimizer step per batch, as with one replica.")
            .define(INIT_FROM, Type.STRING, "", Importance.HIGH,
                    "A Hugging Face GPT-2 directory (config.json, model.safetensors; pretrained GPT-2 or an export of"
                            + " ours) to start a new run from: its weights and shape (the model preset is not used),"
                            + " a fresh optimizer, its tokenizer checked against this one. Ignored once the run has a"
                            + " checkpoint: a restart resumes from that. Empty = fresh weights from the seed.")
            .define(TOKENIZER, Type.STRING, "byte", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Tokenizer spec: byte, gpt2 or the path of a trained BPE file. Batches must come from the same one.")
            .define(BATCH_ROWS, Type.INT, 0, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Expected rows B of every batch; 0 = the preset's default (8 for tiny and small, 4 for gpt2).")
            .define(SEQUENCE_LENGTH, Type.INT, 0, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Expected sequence length T of every batch; 0 = the preset's context length (256 for tiny and small, 1024 for gpt2).")
            .define(SEED, Type.LONG, 1337L, Importance.LOW,
                    "Seed of the initial weights and of sampling.")
            .define(LEARNING_RATE, Type.DOUBLE, 3e-4, ConfigDef.Range.between(0.0, 1.0), Importance.MEDIUM,
                    "Peak learning rate of AdamW.")
            .define(LEARNING_RATE_WARMUP_STEPS, Type.LONG, 10L, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "Steps of linear warm-up to the peak learning rate.")
            .define(LEARNING_RATE_DECAY, Type.STRING, "constant", ConfigDef.ValidString.in("constant", "cosine"),
                    Importance.LOW, "After warm-up: constant, or cosine down to peak * floor ratio at decay steps.")
            .define(LEARNING_RATE_DECAY_STEPS, Type.LONG, 0L, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "Step at which the cosine decay reaches its floor; 0 = max.steps.")
            .define(LEARNING_RATE_FLOOR_RATIO, Type.DOUBLE, 0.1, ConfigDef.Range.between(0.0, 1.0), Importance.LOW,
                    "Final learning rate of the cosine decay as a fraction of the peak.")
            .define(WEIGHT_DECAY, Type.DOUBLE, 0.1, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Decoupled weight decay of AdamW, applied to matrices only.")
            .define(MAX_GRADIENT_NORM, Type.DOUBLE, 1.0, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Global gradient norm clip.")
            .define(DROPOUT, Type.DOUBLE, 0.0, ConfigDef.LambdaValidator.with((name, value) -> {
                        double p = (Double) value;
                        if (!(p >= 0 && p < 1)) {
                            throw new ConfigException(name, value, "a drop probability must be in [0, 1)");
                        }
                    }, () -> "[0, 1)"), Importance.MEDIUM,
                    "Drop probability of dropout in training, where nanoGPT applies it (embeddings, attention weights,"
                            + " the attention and MLP projections before their residual sums); never at evaluation"
                            + " or generation. 0 = none. The masks are keyed by (seed, step, place, element): a replay"
                            + " draws the same ones, on the CPU and the GPU.")
            .define(WORLD_SIZE, Type.INT, 1, ConfigDef.Range.between(1, 1024), Importance.MEDIUM,
                    "Trainer processes (ranks) of one data-parallel world; 1 = the Kafka Streams trainer. With W > 1"
                            + " every rank reads its own partitions of the token-batch topic (partition p goes to rank"
                            + " p mod W; the topic needs at least W partitions) and each global step trains one batch"
                            + " per rank.")
            .define(WORLD_RANK, Type.INT, 0, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "This process's rank in [0, world.size); rank 0 leads the rendezvous and writes the checkpoints.")
            .define(WORLD_HOST, Type.STRING, "", Importance.LOW,
                    "The address rank 0 listens on for the other ranks; empty = this host's address.")
            .define(WORLD_WAIT_MS, Type.INT, 500, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "How long a rank waits for a batch of its partitions before a global step; with none it"
                            + " contributes zero rows, so an idle partition never stalls the world.")
            .define(WORLD_JOIN_SECONDS, Type.INT, 300, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "How long ranks wait for each other at the rendezvous.")
            .define(WORLD_TIMEOUT_MS, Type.LONG, 300_000L, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "The longest a rank waits for the others in NCCL's initialisation and in one phase of a global"
                            + " step (the round's exchange, the step with its gradient all-reduce, the checkpoint's"
                            + " gather); past it, or at once"
                            + " when NCCL reports a peer's failure, the rank aborts the communicator and exits with an"
                            + " error naming the world and the phase, so a dead or hung rank never holds the world"
                            + " for ever. Give it more than the slowest step and checkpoint write.")
            .define(CONTROL_TOPIC, Type.STRING, "streamtrain.control", new ConfigDef.NonEmptyString(), Importance.LOW,
                    "Compacted topic of the world's rendezvous (generation, world size, rank 0's address, NCCL id),"
                            + " keyed by application.id.")
            .define(MAX_BATCHES, Type.LONG, 0L, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "World only: stop after N batches trained in all ranks together (restored ones count); 0 = no"
                            + " limit. (A global step trains up to one batch per rank.)")
            .define(MAX_STEPS, Type.LONG, 0L, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Stop after this many optimizer steps; 0 = run until stopped.")
            .define(LOSS_SPIKE_RATIO, Type.DOUBLE, 0.0, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Dead-letter a batch whose loss, evaluated before its step, exceeds this many times the moving"
                            + " average of recent losses (the batch is not trained); 0 = off. Costs one forward"
                            + " pass per batch when on.")
            .define(LOSS_SPIKE_WARMUP_STEPS, Type.INT, 20, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "Steps of this process before the loss-spike check starts (the average needs a history).")
            .define(SPIKE_WARNING_LOSS_RATIO, Type.DOUBLE, 1.3, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Report a step whose loss exceeds this many times the moving average of the steps before it"
                            + " (a warning on the console, the metrics record's spike, the spikes counter); the step"
                            + " is trained all the same; 0 = off.")
            .define(SPIKE_WARNING_GRADIENT_NORM_RATIO, Type.DOUBLE, 5.0, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Report a step whose gradient norm (before clipping) exceeds this many times the moving average"
                            + " of the steps before it, as for the loss; 0 = off.")
            .define(SAMPLE_EVERY_STEPS, Type.INT, 50, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Publish a text sample every N steps; 0 = never.")
            .define(SAMPLE_PROMPT_TOKENS, Type.INT, 10, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "Tokens of the current batch's first row used as the sample prompt.")
            .define(SAMPLE_MAX_NEW_TOKENS, Type.INT, 40, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "Tokens generated per sample.")
            .define(SAMPLE_TEMPERATURE, Type.DOUBLE, 0.8, ConfigDef.Range.atLeast(0.0), Importance.LOW,
                    "Sampling temperature; 0 = greedy.")
            .define(SAMPLE_TOP_K, Type.INT, 40, Importance.LOW,
                    "Sample from the K most likely ids; 0 or less = from all.")
            .define(SAMPLE_FIXED_PROMPT, Type.STRING, "", Importance.LOW,
                    "A prompt sampled at every sample step in addition to the batch prompt; empty = none.")
            .define(SUMMARY_EVERY_STEPS, Type.INT, 10, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "Print a one-line summary every N steps; 0 = never.")
            .define(RUN_ID, Type.STRING, "", Importance.MEDIUM,
                    "Run id in metrics and sample keys; empty = the restored checkpoint's, else the one in"
                            + " <checkpoint.dir>/run-id, else generated and written there before the first step.")
            .define(RUN_DIR, Type.STRING, "", Importance.MEDIUM,
                    "Directory of this run's files; empty = runs/<application.id>.")
            .define(CHECKPOINT_DIR, Type.STRING, "", Importance.MEDIUM,
                    "Directory of checkpoints, restored from on start; empty = <run.dir>/checkpoints.")
            .define(CHECKPOINT_EVERY_STEPS, Type.LONG, 500L, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Write a checkpoint every N steps; 0 = not by steps.")
            .define(CHECKPOINT_EVERY_SECONDS, Type.LONG, 600L, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Write a checkpoint when this many seconds passed since the last one; 0 = not by time.")
            .define(CHECKPOINT_KEEP, Type.INT, 3, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "Number of newest checkpoints kept; older ones are deleted.")
            .define(REWIND_GROUP, Type.BOOLEAN, true, Importance.LOW,
                    "Before start, evict stale members of the group and move its offsets to checkpoint offset + 1.")
            .define(METRICS_PORT, Type.INT, 0, ConfigDef.Range.between(0, 65535), Importance.LOW,
                    "Port of the Prometheus /metrics endpoint and of the /healthz and /readyz probes; 0 = off.")
            .define(METRICS_HOST, Type.STRING, "127.0.0.1", new ConfigDef.NonEmptyString(), Importance.LOW,
                    "Address of the /metrics endpoint; another than loopback (e.g. 0.0.0.0) needs http.token or "
                            + "http.allow.unauthenticated=true.")
            .define(BROKER_WAIT_SECONDS, Type.INT, 120, ConfigDef.Range.atLeast(0), Importance.LOW,
                    "On start, how long to wait for an unreachable broker (a progress line every 5 s) before giving"
                            + " up; 0 = one try.")
            .define(EVAL_TOPIC, Type.STRING, Topics.EVAL_BATCHES, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    "Topic of the evaluation batches (produce --holdout or --split eval); never trained on.")
            .define(EVAL_EVERY_STEPS, Type.INT, 100, ConfigDef.Range.atLeast(0), Importance.MEDIUM,
                    "Evaluate every N steps, and at max.steps, over the evaluation set without an update; the"
                            + " figures travel on that step's metrics record. 0 = never.")
            .define(EVAL_BATCHES, Type.INT, 8, ConfigDef.Range.atLeast(1), Importance.MEDIUM,
                    "Size of the evaluation set: the first N batches of the evaluation topic (from its beginning,"
                            + " in offset order), kept on the device; it fills as they arrive and is frozen once"
                            + " full, so that every evaluation of a run, restarts included, uses the same batches.")
            .define(EVAL_OVERFIT_PATIENCE, Type.INT, 3, ConfigDef.Range.atLeast(1), Importance.LOW,
                    "Warn once when the held-out loss rose at this many evaluations in a row while the mean training"
                            + " loss between them kept falling.")
            .define(CHECKPOINT_BEST, Type.BOOLEAN, true, Importance.LOW,
                    "Keep the checkpoint of the lowest held-out loss in <checkpoint.dir>/best, apart from the"
                            + " rotation of checkpoint.keep.")));

    private static final DateTimeFormatter RUN_ID_TIME = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss");

    private final int batchRows;
    private final int sequenceLength;
    private final String runId;
    private final Path runDir;
    private final Path checkpointDir;
    private final KafkaClientSettings kafkaClients;
    private final HttpAccess httpAccess;

    public TrainerConfig(Map<?, ?> properties) {
        super(CONFIG, properties, false);
        String preset = getString(MODEL);
        this.batchRows = getInt(BATCH_ROWS) > 0 ? getInt(BATCH_ROWS) : defaultBatchRows(preset);
        this.sequenceLength = getInt(SEQUENCE_LENGTH) > 0 ? getInt(SEQUENCE_LENGTH) : defaultSequenceLength(preset);
        this.runId = getString(RUN_ID);
        this.runDir = getString(RUN_DIR).isEmpty() ? Path.of("runs", applicationId()) : Path.of(getString(RUN_DIR));
        this.checkpointDir = getString(CHECKPOINT_DIR).isEmpty()
                ? runDir.resolve("checkpoints") : Path.of(getString(CHECKPOINT_DIR));
        this.kafkaClients = KafkaClientSettings.from(this, bootstrapServers());
        this.httpAccess = HttpAccess.of(this, METRICS_HOST, metricsHost());
        if (getString(LEARNING_RATE_DECAY).equals("cosine") && getLong(LEARNING_RATE_DECAY_STEPS) == 0
                && getLong(MAX_STEPS) == 0) {
            throw new ConfigException(LEARNING_RATE_DECAY, "cosine", "a cosine decay needs an end: set "
                    + LEARNING_RATE_DECAY_STEPS + " or " + MAX_STEPS);
        }
    }

    /** Default rows B of a batch for a preset: what the producer and the CLI use when no --batch is given. */
    public static int defaultBatchRows(String preset) {
        return defaultShape(preset)[0];
    }

    /** Default sequence length T for a preset: its context length. */
    public static int defaultSequenceLength(String preset) {
        return defaultShape(preset)[1];
    }

    /** {B, T} of a preset's batches. */
    private static int[] defaultShape(String preset) {
        return switch (preset) {
            case "tiny", "small" -> new int[] {8, 256};
            case "gpt2" -> new int[] {4, 1024};
            default -> throw new ConfigException(MODEL, preset, "unknown model preset: choose one of tiny, small, gpt2");
        };
    }

    /** A new run id: UTC time and a random suffix, e.g. {@code 20261120-224500-3f2a}. */
    public static String generateRunId() {
        return LocalDateTime.now(ZoneOffset.UTC).format(RUN_ID_TIME)
                + String.format("-%04x", ThreadLocalRandom.current().nextInt(0x10000));
    }

    public String bootstrapServers() { return String.join(",", getList(BOOTSTRAP_SERVERS)); }
    public String applicationId() { return getString(APPLICATION_ID); }
    public String tokenBatchesTopic() { return getString(TOKEN_BATCHES_TOPIC); }
    public String metricsTopic() { return getString(METRICS_TOPIC); }
    public String samplesTopic() { return getString(SAMPLES_TOPIC); }
    public String deadLettersTopic() { return getString(DEAD_LETTERS_TOPIC); }
    /** The models topic; empty when models are not announced. */
    public String modelsTopic() { return getString(MODELS_TOPIC); }
    /** The Hugging Face GPT-2 directory a new run starts from; empty for fresh weights. */
    public String initFrom() { return getString(INIT_FROM); }
    public String model() { return getString(MODEL); }
    public String backend() { return getString(BACKEND); }
    public int cpuThreads() { return getInt(CPU_THREADS); }
    public int replicas() { return getInt(REPLICAS); }
    public int worldSize() { return getInt(WORLD_SIZE); }
    public int worldRank() { return getInt(WORLD_RANK); }
    public String worldHost() { return getString(WORLD_HOST); }
    public int worldWaitMillis() { return getInt(WORLD_WAIT_MS); }
    public int worldJoinSeconds() { return getInt(WORLD_JOIN_SECONDS); }
    public long worldTimeoutMillis() { return getLong(WORLD_TIMEOUT_MS); }
    public String controlTopic() { return getString(CONTROL_TOPIC); }
    public long maxBatches() { return getLong(MAX_BATCHES); }
    public String tokenizer() { return getString(TOKENIZER); }
    /** Expected B, resolved from the preset when not set. */
    public int batchRows() { return batchRows; }
    /** Expected T, resolved from the preset when not set. */
    public int sequenceLength() { return sequenceLength; }
    public long seed() { return getLong(SEED); }
    public double learningRate() { return getDouble(LEARNING_RATE); }
    public long learningRateWarmupSteps() { return getLong(LEARNING_RATE_WARMUP_STEPS); }
    public String learningRateDecay() { return getString(LEARNING_RATE_DECAY); }
    /** End of the cosine decay: the configured value, else max.steps. */
    public long learningRateDecaySteps() {
        return getLong(LEARNING_RATE_DECAY_STEPS) > 0 ? getLong(LEARNING_RATE_DECAY_STEPS) : getLong(MAX_STEPS);
    }
    public double learningRateFloorRatio() { return getDouble(LEARNING_RATE_FLOOR_RATIO); }
    public double weightDecay() { return getDouble(WEIGHT_DECAY); }
    public double maxGradientNorm() { return getDouble(MAX_GRADIENT_NORM); }
    public double dropout() { return getDouble(DROPOUT); }
    public long maxSteps() { return getLong(MAX_STEPS); }
    public double lossSpikeRatio() { return getDouble(LOSS_SPIKE_RATIO); }
    public int lossSpikeWarmupSteps() { return getInt(LOSS_SPIKE_WARMUP_STEPS); }
    public double spikeWarningLossRatio() { return getDouble(SPIKE_WARNING_LOSS_RATIO); }
    public double spikeWarningGradientNormRatio() { return getDouble(SPIKE_WARNING_GRADIENT_NORM_RATIO); }
    public int sampleEverySteps() { return getInt(SAMPLE_EVERY_STEPS); }
    public int samplePromptTokens() { return getInt(SAMPLE_PROMPT_TOKENS); }
    public int sampleMaxNewTokens() { return getInt(SAMPLE_MAX_NEW_TOKENS); }
    public double sampleTemperature() { return getDouble(SAMPLE_TEMPERATURE); }
    public int sampleTopK() { return getInt(SAMPLE_TOP_K); }
    public String sampleFixedPrompt() { return getString(SAMPLE_FIXED_PROMPT); }
    public int summaryEverySteps() { return getInt(SUMMARY_EVERY_STEPS); }
    /** The configured run id; empty when it is to come from the checkpoint or be generated. */
    public String runId() { return runId; }
    public Path runDir() { return runDir; }
    public Path checkpointDir() { return checkpointDir; }
    public long checkpointEverySteps() { return getLong(CHECKPOINT_EVERY_STEPS); }
    public long checkpointEverySeconds() { return getLong(CHECKPOINT_EVERY_SECONDS); }
    public int checkpointKeep() { return getInt(CHECKPOINT_KEEP); }
    public boolean rewindGroup() { return getBoolean(REWIND_GROUP); }
    public int metricsPort() { return getInt(METRICS_PORT); }
    public int brokerWaitSeconds() { return getInt(BROKER_WAIT_SECONDS); }
    public String evalTopic() { return getString(EVAL_TOPIC); }
    public int evalEverySteps() { return getInt(EVAL_EVERY_STEPS); }
    public int evalBatches() { return getInt(EVAL_BATCHES); }
    public int evalOverfitPatience() { return getInt(EVAL_OVERFIT_PATIENCE); }
    public boolean checkpointBest() { return getBoolean(CHECKPOINT_BEST); }
    /** Where the best checkpoint is kept: {@code <checkpoint.dir>/best}. */
    public Path bestCheckpointDir() { return checkpointDir.resolve("best"); }

    /** Settings of every Kafka client of the trainer: bootstrap servers, the client properties file, kafka.* keys. */
    public KafkaClientSettings kafkaClients() { return kafkaClients; }
    public String metricsHost() { return getString(METRICS_HOST); }
    /** Who may read /metrics: a token is required unless it listens on loopback or was allowed without one. */
    public HttpAccess httpAccess() { return httpAccess; }

    /** Kafka Streams overrides given with the {@value #STREAMS_PREFIX} prefix, prefix removed. */
    public Map<String, Object> streamsOverrides() {
        return originalsWithPrefix(STREAMS_PREFIX);
    }

    /** Every key with its effective value, derived values resolved, in definition order. */
    public Map<String, String> effectiveValues() {
        Map<String, String> values = new LinkedHashMap<>();
        for (String name : CONFIG.configKeys().keySet()) {
            Object value = values().get(name);
            values.put(name, value instanceof List<?> list
                    ? String.join(",", list.stream().map(String::valueOf).toList()) : String.valueOf(value));
        }
        values.put(BATCH_ROWS, Integer.toString(batchRows));
        values.put(SEQUENCE_LENGTH, Integer.toString(sequenceLength));
        values.put(RUN_ID, runId.isEmpty() ? "(from checkpoint, else <checkpoint.dir>/run-id, else generated)" : runId);
        values.put(RUN_DIR, runDir.toString());
        values.put(CHECKPOINT_DIR, checkpointDir.toString());
        values.put(LEARNING_RATE_DECAY_STEPS, Long.toString(learningRateDecaySteps()));
        values.putAll(kafkaClients.describe());
        streamsOverrides().forEach((key, value) -> values.put(STREAMS_PREFIX + key, KafkaClientSettings.mask(key, value)));
        return values;
    }

    /** The effective configuration, one {@code key = value} per line. */
    @Override
    public String toString() {
        StringBuilder out = new StringBuilder("trainer configuration:\n");
        effectiveValues().forEach((key, value) -> out.append("  ").append(key).append(" = ").append(value).append('\n'));
        return out.toString();
    }
}
