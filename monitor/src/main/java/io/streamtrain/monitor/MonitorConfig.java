package io.streamtrain.monitor;

import io.streamtrain.schemas.HttpAccess;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.Topics;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;

/**
 * Settings of a {@link Monitor}, Kafka ConfigDef style: each key with its default, validator and doc together.
 * Every key has a default ({@code bootstrap.servers}: {@code localhost:9092}, as the trainer's and the producer's):
 * <pre>{@code
 * MonitorConfig config = new MonitorConfig(Map.of(
 *     MonitorConfig.BOOTSTRAP_SERVERS, "localhost:9092",
 *     MonitorConfig.HTTP_PORT, 0,                       // 0: any free port
 *     MonitorConfig.RUN_DIRECTORY, "runs/2026-11-20"));  // metrics_history.json, text_samples.json, charts/*.png
 * }</pre>
 * {@link #CONFIG} lists every key with its doc ({@code CONFIG.toRst()} for a table). The consumer and the lag admin get
 * the settings of the {@value KafkaClientSettings#COMMAND_CONFIG} file and of {@code kafka.*} keys
 * ({@link KafkaClientSettings}).
 */
public final class MonitorConfig extends AbstractConfig {
    public static final String BOOTSTRAP_SERVERS = "bootstrap.servers";
    public static final String HTTP_HOST = "http.host";
    public static final String HTTP_PORT = "http.port";
    public static final String RUN_ID = "run.id";
    public static final String START_TIME = "start.time";
    public static final String RUN_DIRECTORY = "run.dir";
    public static final String PNG_EVERY_STEPS = "png.every.steps";
    public static final String PNG_WIDTH = "png.width";
    public static final String PNG_HEIGHT = "png.height";
    public static final String TRAINER_APPLICATION_ID = "trainer.application.id";
    public static final String LAG_POLL_INTERVAL_MS = "lag.poll.interval.ms";
    public static final String CONSOLE = "console";
    public static final String CONSOLE_REFRESH_MS = "console.refresh.ms";
    public static final String METRICS_TOPIC = "metrics.topic";
    public static final String SAMPLES_TOPIC = "samples.topic";
    public static final String DEAD_LETTERS_TOPIC = "dead.letters.topic";
    public static final String MAX_STEPS_PER_RUN = "max.steps.per.run";
    public static final String MAX_SAMPLES_PER_RUN = "max.samples.per.run";
    public static final String MAX_RUNS = "max.runs";

    /** Every key, with default, validator and doc. */
    public static final ConfigDef CONFIG = HttpAccess.define(KafkaClientSettings.define(new ConfigDef()
        .define(BOOTSTRAP_SERVERS, Type.STRING, "localhost:9092", new ConfigDef.NonEmptyString(), Importance.HIGH,
            "Kafka bootstrap servers (host:port,...) of the cluster that holds the metrics and samples topics.")
        .define(HTTP_HOST, Type.STRING, "127.0.0.1", new ConfigDef.NonEmptyString(), Importance.MEDIUM,
            "Address the dashboard listens on; 0.0.0.0 to reach it from other machines (or from outside a container), "
                + "which needs http.token (browsers ask for it as a password) or http.allow.unauthenticated=true.")
        .define(HTTP_PORT, Type.INT, 8080, Range.between(0, 65535), Importance.HIGH,
            "Port of the dashboard; 0 picks a free port (Monitor.url() tells which).")
        .define(RUN_ID, Type.STRING, "", Importance.MEDIUM,
            "Show only this run id; empty shows every run, each as its own series.")
        .define(START_TIME, Type.STRING, "", new InstantValidator(), Importance.MEDIUM,
            "Read the topics from this time (ISO-8601, e.g. 2026-11-20T21:00:00Z) instead of from the beginning.")
        .define(RUN_DIRECTORY, Type.STRING, "", Importance.MEDIUM,
            "Directory kept current with metrics_history.json, text_samples.json and charts/*.png; empty writes no files.")
        .define(PNG_EVERY_STEPS, Type.INT, 50, Range.atLeast(0), Importance.LOW,
            "Redraw the PNG charts whenever the latest step passes a multiple of this; 0 draws them only on close.")
        .define(PNG_WIDTH, Type.INT, 900, Range.between(100, 8000), Importance.LOW, "Width of each PNG chart in pixels.")
        .define(PNG_HEIGHT, Type.INT, 500, Range.between(100, 8000), Importance.LOW, "Height of each PNG chart in pixels.")
        .define(TRAINER_APPLICATION_ID, Type.STRING, "", Importance.MEDIUM,
            "Kafka Streams application id (= consumer group) of the trainer, for its consumer lag; empty shows no lag.")
        .define(LAG_POLL_INTERVAL_MS, Type.LONG, 3000L, Range.atLeast(100), Importance.LOW,
            "How often the trainer's consumer lag is measured.")
        .define(CONSOLE, Type.BOOLEAN, false, Importance.MEDIUM,
            "Also show the live view as a compact table on standard output (redrawn in place on a terminal).")
        .define(CONSOLE_REFRESH_MS, Type.LONG, 1000L, Range.atLeast(50), Importance.LOW, "How often the console view redraws.")
        .define(METRICS_TOPIC, Type.STRING, Topics.METRICS, new ConfigDef.NonEmptyString(), Importance.LOW, "TrainingMetrics topic.")
        .define(SAMPLES_TOPIC, Type.STRING, Topics.SAMPLES, new ConfigDef.NonEmptyString(), Importance.LOW, "TextSample topic.")
        .define(DEAD_LETTERS_TOPIC, Type.STRING, Topics.DEAD_LETTERS, new ConfigDef.NonEmptyString(), Importance.LOW,
            "Dead-letter topic of the trainer (counted; reasons read from the __streams.errors.* headers).")
        .define(MAX_STEPS_PER_RUN, Type.INT, 50_000, Range.atLeast(10), Importance.LOW,
            "Steps kept per run; beyond it the oldest steps are dropped (bounds memory).")
        .define(MAX_SAMPLES_PER_RUN, Type.INT, 200, Range.atLeast(1), Importance.LOW, "Text samples kept per run.")
        .define(MAX_RUNS, Type.INT, 64, Range.atLeast(1), Importance.LOW,
            "Runs kept; beyond it the run updated longest ago is dropped.")));

    private final HttpAccess httpAccess;

    public MonitorConfig(Map<String, ?> properties) {
        super(CONFIG, properties, false);
        this.httpAccess = HttpAccess.of(this, HTTP_HOST, httpHost());
    }

    public String bootstrapServers() { return getString(BOOTSTRAP_SERVERS); }
    /** Settings of the monitor's Kafka clients: bootstrap servers, the client properties file, kafka.* keys. */
    public KafkaClientSettings kafkaClients() { return KafkaClientSettings.from(this, bootstrapServers()); }
    public String httpHost() { return getString(HTTP_HOST); }
    public int httpPort() { return getInt(HTTP_PORT); }
    /** Who may read the dashboard: a token is required unless it listens on loopback or was allowed without one. */
    public HttpAccess httpAccess() { return httpAccess; }
    /** The one run to show, or empty for all runs. */
    public Optional<String> runId() { return nonEmpty(getString(RUN_ID)); }
    /** Where to start reading, or empty for the beginning of the topics. */
    public Optional<Instant> startTime() { return nonEmpty(getString(START_TIME)).map(Instant::parse); }
    public Optional<Path> runDirectory() { return nonEmpty(getString(RUN_DIRECTORY)).map(Path::of); }
    public int pngEverySteps() { return getInt(PNG_EVERY_STEPS); }
    public int pngWidth() { return getInt(PNG_WIDTH); }
    public int pngHeight() { return getInt(PNG_HEIGHT); }
    public Optional<String> trainerApplicationId() { return nonEmpty(getString(TRAINER_APPLICATION_ID)); }
    public long lagPollIntervalMillis() { return getLong(LAG_POLL_INTERVAL_MS); }
    public boolean console() { return getBoolean(CONSOLE); }
    public long consoleRefreshMillis() { return getLong(CONSOLE_REFRESH_MS); }
    public String metricsTopic() { return getString(METRICS_TOPIC); }
    public String samplesTopic() { return getString(SAMPLES_TOPIC); }
    public String deadLettersTopic() { return getString(DEAD_LETTERS_TOPIC); }
    public int maxStepsPerRun() { return getInt(MAX_STEPS_PER_RUN); }
    public int maxSamplesPerRun() { return getInt(MAX_SAMPLES_PER_RUN); }
    public int maxRuns() { return getInt(MAX_RUNS); }

    private static Optional<String> nonEmpty(String value) {
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(value.trim());
    }

    /** Accepts empty or an ISO-8601 instant. */
    private static final class InstantValidator implements ConfigDef.Validator {
        @Override
        public void ensureValid(String name, Object value) {
            String text = value == null ? "" : value.toString().trim();
            if (text.isEmpty()) {
                return;
            }
            try {
                Instant.parse(text);
            } catch (DateTimeParseException e) {
                throw new ConfigException(name, value, "expected an ISO-8601 instant such as 2026-11-20T21:00:00Z, or empty for the beginning");
            }
        }

        @Override
        public String toString() {
            return "ISO-8601 instant or empty";
        }
    }
}
