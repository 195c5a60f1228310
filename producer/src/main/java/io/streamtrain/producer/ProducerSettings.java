package io.streamtrain.producer;

import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.Topics;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef.ValidString;
import org.apache.kafka.common.config.ConfigException;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Settings of a {@link DocumentProducer} run, Kafka ConfigDef style: every key with its type, default, validator
 * and doc in {@link #DEFINITION}. The Kafka producer and admin clients get the settings of the
 * {@value KafkaClientSettings#COMMAND_CONFIG} file and the keys starting with {@value #KAFKA_PREFIX}, without the
 * prefix (security, compression ...; see {@link KafkaClientSettings}); idempotence and {@code acks=all} are always on.
 * Build with {@link #builder()} or from a map with {@link #ProducerSettings(Map)}; invalid values fail with a
 * {@link ConfigException} that names the key.
 */
public final class ProducerSettings extends AbstractConfig {
    public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";
    public static final String TOPIC = "topic";
    public static final String DATASET = "dataset";
    public static final String TOKENIZER = "tokenizer";
    public static final String BATCH_ROWS = "batch.rows";
    public static final String SEQUENCE_LENGTH = "sequence.length";
    public static final String INPUTS = "inputs";
    public static final String INPUT_FORMAT = "input.format";
    public static final String FOLLOW = "follow";
    public static final String FOLLOW_POLL_MS = "follow.poll.ms";
    public static final String FOLLOW_SETTLE_MS = "follow.settle.ms";
    public static final String MAX_DOCUMENT_BYTES = "max.document.bytes";
    public static final String THREADS = "threads";
    public static final String EPOCHS = "epochs";
    public static final String FIRST_SEQUENCE = "first.sequence";
    public static final String BROKER_TIMEOUT_MS = "broker.timeout.ms";
    public static final String TOPIC_CREATE = "topic.create";
    public static final String SPREAD = "spread";
    public static final String PROGRESS = "progress";
    public static final String PROGRESS_INTERVAL_MS = "progress.interval.ms";
    public static final String SPLIT = "split";
    public static final String HOLDOUT = "holdout";
    public static final String HOLDOUT_BLOCK_TOKENS = "holdout.block.tokens";
    public static final String EVAL_TOPIC = "eval.topic";
    public static final String EVAL_FIRST_SEQUENCE = "eval.first.sequence";
    public static final String SHUFFLE_ROWS = "shuffle.rows";
    public static final String SEED = "seed";
    /** Prefix of settings passed to the Kafka clients, e.g. {@code kafka.compression.type=lz4}. */
    public static final String KAFKA_PREFIX = KafkaClientSettings.PREFIX;

    /** Every key with type, default, validator and doc. */
    public static final ConfigDef DEFINITION = KafkaClientSettings.define(new ConfigDef()
            .define(BOOTSTRAP_SERVERS, Type.STRING, "localhost:9092", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Kafka brokers to publish to, host:port[,host:port...].")
            .define(TOPIC, Type.STRING, Topics.TOKEN_BATCHES, new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Topic of the TokenBatch records; created with the broker's defaults when missing (see "
                            + "topic.create).")
            .define(DATASET, Type.STRING, "default", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Dataset name: TokenBatch.dataset and the key of every record; on a topic of several "
                            + "partitions, <dataset>@<partition> (see spread).")
            .define(TOKENIZER, Type.STRING, "byte", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Tokenizer spec: byte, gpt2, or the path of a vocabulary trained with `streamtrain tokenizer "
                            + "train`.")
            .define(BATCH_ROWS, Type.INT, 8, Range.atLeast(1), Importance.HIGH,
                    "B, rows per batch: one batch is one training step. The default matches the trainer's for "
                            + "the tiny and small presets.")
            .define(SEQUENCE_LENGTH, Type.INT, 256, Range.atLeast(1), Importance.HIGH,
                    "T, tokens per row as model input; each row holds T+1 ids (the targets are shifted by one).")
            .define(INPUTS, Type.LIST, List.of(), Importance.HIGH,
                    "Files, directories (read recursively, in path order) and - for standard input.")
            .define(INPUT_FORMAT, Type.STRING, "auto", ValidString.in("auto", "text", "jsonl"), Importance.MEDIUM,
                    "auto: by suffix (.jsonl .ndjson .json vs .txt .text .md, before .gz), else JSON Lines when the "
                            + "first character is '{'; text: each source is one document; jsonl: one JSON object "
                            + "per line with a string text field.")
            .define(FOLLOW, Type.BOOLEAN, false, Importance.MEDIUM,
                    "Keep watching the input directories until stopped and ingest new files, in name order, and "
                            + "what is appended to files already read. A file is read once its size and time stayed "
                            + "unchanged for follow.settle.ms (also at the start: a file still changing then is left "
                            + "to the watch). Appended data is read too: new lines of JSON Lines (a last line without "
                            + "a line end waits until it is a whole JSON object), new text of a text file as a further "
                            + "document; not of gzip files, and a file rewritten shorter is not read again (both "
                            + "said). The safe way to add a file: write it under a name ending .part (or .tmp, "
                            + ".partial, ~, or a hidden name), which is ignored, and rename it when complete.")
            .define(FOLLOW_POLL_MS, Type.LONG, 1000L, Range.atLeast(10), Importance.LOW,
                    "With follow: how often the directories are listed, in milliseconds.")
            .define(FOLLOW_SETTLE_MS, Type.LONG, 2000L, Range.atLeast(0), Importance.LOW,
                    "With follow: how long a file's size and time must stay unchanged before it is read (or read "
                            + "on), in milliseconds.")
            .define(MAX_DOCUMENT_BYTES, Type.INT, 4 << 20, Range.between(0, Integer.MAX_VALUE - 16), Importance.MEDIUM,
                    "Largest document read, in bytes: a JSON Lines line or a text file (after gunzip) that is "
                            + "larger is skipped and reported with its file and line (a document of many megabytes "
                            + "in one line is more often a mistake than a text). 0 = no limit.")
            .define(THREADS, Type.INT, Math.max(1, Runtime.getRuntime().availableProcessors()), Range.atLeast(1),
                    Importance.MEDIUM, "Tokenizer threads (default: the number of processors).")
            .define(EPOCHS, Type.INT, 1, Range.atLeast(1), Importance.LOW,
                    "How many times the inputs are read (not with follow or standard input).")
            .define(FIRST_SEQUENCE, Type.LONG, 0L, Range.atLeast(0), Importance.LOW,
                    "Sequence number of the first batch; set it to the next number to continue a dataset.")
            .define(BROKER_TIMEOUT_MS, Type.INT, 15_000, Range.atLeast(1), Importance.MEDIUM,
                    "How long to wait for the broker to answer before giving up, in milliseconds.")
            .define(TOPIC_CREATE, Type.BOOLEAN, true, Importance.LOW,
                    "Create the topic when it does not exist (with the broker's default partitions and "
                            + "replication).")
            .define(SPREAD, Type.BOOLEAN, true, Importance.MEDIUM,
                    "On a topic of P > 1 partitions, spread the dataset over all of them for data-parallel "
                            + "trainers (each rank reads its own partitions): batch k goes to partition k mod P as "
                            + "a batch of the shard <dataset>@<p> (its dataset and record key), so each partition "
                            + "holds one shard in sequence order. P is read from the topic at start. false: the "
                            + "whole dataset in one partition, keyed by the dataset name.")
            .define(PROGRESS, Type.STRING, "auto", ValidString.in("auto", "bar", "log", "none"), Importance.LOW,
                    "auto: a bar on a terminal, plain log lines otherwise.")
            .define(PROGRESS_INTERVAL_MS, Type.LONG, 5000L, Range.atLeast(1), Importance.LOW,
                    "Time between two progress log lines, in milliseconds.")
            .define(SPLIT, Type.STRING, "train", ValidString.in("train", "eval"), Importance.MEDIUM,
                    "train: the batches go to topic (held-out parts, with holdout, to eval.topic); eval: the whole "
                            + "input is an evaluation corpus and goes to eval.topic.")
            .define(HOLDOUT, Type.DOUBLE, 0.0, ConfigDef.LambdaValidator.with((name, value) -> {
                        double fraction = (Double) value;
                        if (!(fraction >= 0 && fraction < 1)) {
                            throw new ConfigException(name, value, "the held-out fraction must be in [0, 1)");
                        }
                    }, () -> "[0, 1)"), Importance.MEDIUM,
                    "Fraction of the input held out for evaluation and sent to eval.topic instead of topic: each "
                            + "document is cut into blocks of holdout.block.tokens and a deterministic, evenly spaced "
                            + "share of them (by the document's content and seed) is held out, so one large document "
                            + "and many small ones both split, the same way on every run; held-out parts are sent "
                            + "once, in the first epoch. 0 = off.")
            .define(HOLDOUT_BLOCK_TOKENS, Type.INT, 8192, Range.atLeast(1), Importance.LOW,
                    "With holdout: tokens per block, the unit that goes to one side or the other.")
            .define(EVAL_TOPIC, Type.STRING, Topics.EVAL_BATCHES, new ConfigDef.NonEmptyString(), Importance.MEDIUM,
                    "Topic of the evaluation batches (holdout, or split=eval); the trainer reads its evaluation "
                            + "set from it.")
            .define(EVAL_FIRST_SEQUENCE, Type.LONG, 0L, Range.atLeast(0), Importance.LOW,
                    "Sequence number of the first evaluation batch (with holdout).")
            .define(SHUFFLE_ROWS, Type.INT, 0, Range.atLeast(0), Importance.MEDIUM,
                    "Shuffled epochs: training rows (windows of T+1 tokens) pass through a shuffle buffer of this "
                            + "many rows, so batches mix windows from far apart; every epoch after the first starts "
                            + "at a random offset in [0, T), so repeated epochs present other windows in another "
                            + "order (deterministic by seed and epoch). Memory: rows * (T+1) * 4 bytes. 0 = off.")
            .define(SEED, Type.LONG, 1337L, Importance.LOW,
                    "Seed of the held-out split and of the shuffle."));

    public ProducerSettings(Map<?, ?> originals) {
        super(DEFINITION, originals, false);
        if (follow() && epochs() > 1) {
            throw new ConfigException(EPOCHS, epochs(), "epochs cannot be combined with follow; choose one");
        }
        if (epochs() > 1 && inputs().contains("-")) {
            throw new ConfigException(EPOCHS, epochs(), "standard input can be read only once; use a file");
        }
        if (holdout() > 0 && split().equals("eval")) {
            throw new ConfigException(HOLDOUT, holdout(), "split=eval sends the whole input to " + EVAL_TOPIC
                    + "; a holdout makes sense only with split=train");
        }
        long recordBytes = 4L * batchRows() * (sequenceLength() + 1);
        if (recordBytes > 512L * 1024 * 1024) {
            throw new ConfigException(BATCH_ROWS, batchRows(), "B*(T+1)*4 = " + recordBytes
                    + " bytes is too large for one Kafka record; use fewer rows or a shorter sequence");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public String bootstrapServers() {
        return getString(BOOTSTRAP_SERVERS);
    }

    public String topic() {
        return getString(TOPIC);
    }

    public String dataset() {
        return getString(DATASET);
    }

    public String tokenizerSpec() {
        return getString(TOKENIZER);
    }

    /** B. */
    public int batchRows() {
        return getInt(BATCH_ROWS);
    }

    /** T. */
    public int sequenceLength() {
        return getInt(SEQUENCE_LENGTH);
    }

    public List<String> inputs() {
        return getList(INPUTS);
    }

    public InputFormat inputFormat() {
        return InputFormat.parse(getString(INPUT_FORMAT));
    }

    public boolean follow() {
        return getBoolean(FOLLOW);
    }

    public Duration followPollInterval() {
        return Duration.ofMillis(getLong(FOLLOW_POLL_MS));
    }

    public Duration followSettle() {
        return Duration.ofMillis(getLong(FOLLOW_SETTLE_MS));
    }

    /** Largest document read, in bytes; 0 = no limit. */
    public int maxDocumentBytes() {
        return getInt(MAX_DOCUMENT_BYTES);
    }

    public int threads() {
        return getInt(THREADS);
    }

    public int epochs() {
        return getInt(EPOCHS);
    }

    public long firstSequence() {
        return getLong(FIRST_SEQUENCE);
    }

    public Duration brokerTimeout() {
        return Duration.ofMillis(getInt(BROKER_TIMEOUT_MS));
    }

    public boolean topicCreate() {
        return getBoolean(TOPIC_CREATE);
    }

    /** Whether the dataset is spread over the topic's partitions (see {@value #SPREAD}). */
    public boolean spread() {
        return getBoolean(SPREAD);
    }

    public ProgressMode progress() {
        return ProgressMode.valueOf(getString(PROGRESS).toUpperCase(Locale.ROOT));
    }

    public Duration progressInterval() {
        return Duration.ofMillis(getLong(PROGRESS_INTERVAL_MS));
    }

    /** train or eval. */
    public String split() {
        return getString(SPLIT);
    }

    /** Whether this run's batches all go to the evaluation topic ({@code split=eval}). */
    public boolean evaluationCorpus() {
        return split().equals("eval");
    }

    public double holdout() {
        return getDouble(HOLDOUT);
    }

    public int holdoutBlockTokens() {
        return getInt(HOLDOUT_BLOCK_TOKENS);
    }

    public String evalTopic() {
        return getString(EVAL_TOPIC);
    }

    public long evalFirstSequence() {
        return getLong(EVAL_FIRST_SEQUENCE);
    }

    public int shuffleRows() {
        return getInt(SHUFFLE_ROWS);
    }

    public long seed() {
        return getLong(SEED);
    }

    /** Settings of the Kafka clients: bootstrap servers, the client properties file, the {@value #KAFKA_PREFIX} keys. */
    public KafkaClientSettings kafkaClients() {
        return KafkaClientSettings.from(this, bootstrapServers());
    }

    /** The {@value #KAFKA_PREFIX} settings without their prefix. */
    public Map<String, Object> kafkaOverrides() {
        return originalsWithPrefix(KAFKA_PREFIX);
    }

    /** Fills a settings map key by key; {@link #build()} validates it. */
    public static final class Builder {
        private final Map<String, Object> values = new HashMap<>();

        private Builder() {}

        /** Any key of {@link #DEFINITION}, or a {@value #KAFKA_PREFIX} key. */
        public Builder set(String key, Object value) {
            values.put(key, value);
            return this;
        }

        public Builder bootstrapServers(String servers) {
            return set(BOOTSTRAP_SERVERS, servers);
        }

        public Builder topic(String topic) {
            return set(TOPIC, topic);
        }

        public Builder dataset(String dataset) {
            return set(DATASET, dataset);
        }

        public Builder tokenizer(String spec) {
            return set(TOKENIZER, spec);
        }

        public Builder batchRows(int rows) {
            return set(BATCH_ROWS, rows);
        }

        public Builder sequenceLength(int sequenceLength) {
            return set(SEQUENCE_LENGTH, sequenceLength);
        }

        public Builder inputs(List<String> inputs) {
            return set(INPUTS, List.copyOf(inputs));
        }

        public Builder inputFormat(String format) {
            return set(INPUT_FORMAT, format);
        }

        public Builder follow(boolean follow) {
            return set(FOLLOW, follow);
        }

        public Builder followPollInterval(Duration interval) {
            return set(FOLLOW_POLL_MS, interval.toMillis());
        }

        public Builder followSettle(Duration settle) {
            return set(FOLLOW_SETTLE_MS, settle.toMillis());
        }

        public Builder maxDocumentBytes(int bytes) {
            return set(MAX_DOCUMENT_BYTES, bytes);
        }

        public Builder threads(int threads) {
            return set(THREADS, threads);
        }

        public Builder epochs(int epochs) {
            return set(EPOCHS, epochs);
        }

        public Builder firstSequence(long sequence) {
            return set(FIRST_SEQUENCE, sequence);
        }

        public Builder brokerTimeout(Duration timeout) {
            return set(BROKER_TIMEOUT_MS, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        }

        public Builder topicCreate(boolean create) {
            return set(TOPIC_CREATE, create);
        }

        public Builder spread(boolean spread) {
            return set(SPREAD, spread);
        }

        /** auto | bar | log | none. */
        public Builder progress(String mode) {
            return set(PROGRESS, mode);
        }

        public Builder progressInterval(Duration interval) {
            return set(PROGRESS_INTERVAL_MS, interval.toMillis());
        }

        /** train or eval. */
        public Builder split(String split) {
            return set(SPLIT, split);
        }

        /** Fraction held out for evaluation, in [0, 1). */
        public Builder holdout(double fraction) {
            return set(HOLDOUT, fraction);
        }

        public Builder holdoutBlockTokens(int tokens) {
            return set(HOLDOUT_BLOCK_TOKENS, tokens);
        }

        public Builder evalTopic(String topic) {
            return set(EVAL_TOPIC, topic);
        }

        /** Rows of the shuffle buffer; 0 = no shuffle. */
        public Builder shuffleRows(int rows) {
            return set(SHUFFLE_ROWS, rows);
        }

        public Builder seed(long seed) {
            return set(SEED, seed);
        }

        /** A properties file of Kafka client settings, as Kafka's tools' {@code --command-config}. */
        public Builder commandConfig(String file) {
            return set(KafkaClientSettings.COMMAND_CONFIG, file);
        }

        /** A Kafka client setting, e.g. {@code kafka("compression.type", "lz4")}. */
        public Builder kafka(String key, Object value) {
            return set(KAFKA_PREFIX + key, value);
        }

        public ProducerSettings build() {
            return new ProducerSettings(values);
        }
    }
}
