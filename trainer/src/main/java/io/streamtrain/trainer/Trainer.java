package io.streamtrain.trainer;

import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.internal.ConsoleSummary;
import io.streamtrain.trainer.internal.EmittedRecords;
import io.streamtrain.trainer.internal.Evaluator;
import io.streamtrain.trainer.internal.GroupPosition;
import io.streamtrain.trainer.internal.MetricsServer;
import io.streamtrain.trainer.internal.ModelAnnouncer;
import io.streamtrain.trainer.world.RankTrainer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;

/**
 * The trainer process: one {@link ResidentModel} (restored from the newest checkpoint or new), the
 * {@link TrainerTopology} in Kafka Streams, Micrometer meters with an optional Prometheus {@code /metrics} endpoint.
 * {@link #start()} puts the consumer group at the checkpoint's position and starts consuming; {@link #stop()} closes
 * Kafka Streams and writes the final checkpoint.
 *
 * <pre>{@code
 * try (Trainer trainer = new Trainer(config, System.out)) {
 *     trainer.addListener(myListener);
 *     trainer.start();
 *     trainer.awaitSteps(200, Duration.ofMinutes(10));
 * } // stop(): final checkpoint
 * }</pre>
 */
public final class Trainer implements AutoCloseable {
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);
    /** How long a stop waits for the delivery of its evaluation's record. */
    private static final Duration STOP_SEND_TIMEOUT = Duration.ofSeconds(30);
    /** A timeout of {@link #awaitSteps} that never expires. */
    public static final Duration FOREVER = Duration.ofSeconds(Long.MAX_VALUE);

    private final TrainerConfig config;
    private final PrintStream console;
    private final ResidentModel model;
    private final List<TrainerListener> listeners = new CopyOnWriteArrayList<>();
    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final JvmGcMetrics gcMetrics = new JvmGcMetrics();
    private KafkaStreams streams;
    private DeadLetters deadLetters;
    private KafkaStreamsMetrics streamsMetrics;
    private MetricsServer metricsServer;
    private ModelAnnouncer announcer;
    private Evaluator evaluator;
    private final long startStep;  // the step restored at start: later steps were trained by this trainer
    private volatile Throwable failure;
    private volatile boolean stopped;

    /**
     * Opens the model (restoring the newest valid checkpoint of {@code config.checkpointDir()}) and binds the meters.
     * Prints what was restored and then, once the backend, tokenizer and checkpoint were accepted, the effective
     * configuration on {@code console} (not before an error that stops the start: the error is what to read then).
     */
    public Trainer(TrainerConfig config, PrintStream console) throws IOException {
        this.config = config;
        this.console = console;
        this.model = ResidentModel.open(config, console);
        this.startStep = model.step();
        console.print(config);
        model.meters().bindTo(registry);
        new JvmMemoryMetrics().bindTo(registry);
        gcMetrics.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        listeners.add(new ConsoleSummary(console, config.summaryEverySteps()));
    }

    /** Adds a listener; call before {@link #start()} to see every step. */
    public void addListener(TrainerListener listener) {
        listeners.add(listener);
    }

    /**
     * Waits for the broker (up to {@code broker.wait.seconds}), creates missing topics, makes room in the consumer
     * group (a live trainer of the same application id is refused) and aligns it with the checkpoint (unless
     * {@code rewind.group} is false),
     * re-sends the checkpoint's metrics and sample records of its last steps, starts Kafka Streams and, when
     * {@code metrics.port} is set, the {@code /metrics} endpoint.
     */
    public synchronized void start() throws IOException {
        if (streams != null || stopped) {
            throw new IllegalStateException("a Trainer starts once; create a new one to start again");
        }
        try {
            int deadLetterLimit;
            try (Admin admin = Admin.create(clientConfig("start", Map.of()))) {
                GroupPosition position = new GroupPosition(admin, ADMIN_TIMEOUT, console);
                position.awaitBroker(config.bootstrapServers(), Duration.ofSeconds(config.brokerWaitSeconds()));
                position.createMissingTopics(List.of(config.tokenBatchesTopic(), config.metricsTopic(),
                        config.samplesTopic(), config.deadLettersTopic(), config.evalTopic()));
                if (!config.modelsTopic().isEmpty()) {
                    position.createMissingTopics(List.of(config.modelsTopic()),
                            Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT));
                }
                if (config.rewindGroup()) {
                    position.alignWithCheckpoint(config.applicationId(), config.tokenBatchesTopic(),
                            model.handledOffsets(), sessionTimeout().plusSeconds(5));
                }
                deadLetterLimit = position.maxMessageBytes(config.deadLettersTopic());
            }
            resendCheckpointedRecords();
            deadLetters = openDeadLetters(deadLetterLimit);
        } catch (RuntimeException e) {
            // The cluster rejected the client (credentials, TLS, ACLs): say so, and which settings to check.
            throw config.kafkaClients().explain(e).<RuntimeException>map(message -> new IllegalStateException(message, e))
                    .orElse(e);
        }
        if (!config.modelsTopic().isEmpty()) {
            announcer = new ModelAnnouncer(new KafkaProducer<>(clientConfig("models", Map.of(
                    ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)),
                    new StringSerializer(), new ByteArraySerializer()), config.modelsTopic(), model.runId(),
                    model.tokenizerIdentity().name(), model::tokensTrained, console);
            listeners.add(announcer);
        }
        Files.createDirectories(config.runDir());
        evaluator = Evaluator.open(config, model, clientConfig("eval-loader", Map.of()), model.tokenizerIdentity(),
                model.config(), console);
        streams = new KafkaStreams(TrainerTopology.build(config, model, TrainerListener.all(listeners), deadLetters,
                evaluator), TrainerTopology.streamsProperties(config, model.runId()));
        streams.setUncaughtExceptionHandler(exception -> {
            failure = exception;
            console.println("trainer failed: " + exception);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streamsMetrics = new KafkaStreamsMetrics(streams);
        streamsMetrics.bindTo(registry);
        if (config.metricsPort() > 0) {
            metricsServer = MetricsServer.start(registry, config.metricsHost(), config.metricsPort(), config.httpAccess(),
                    this::unhealthy, this::notReady);
            console.println("metrics on http://" + config.metricsHost() + ":" + metricsServer.port() + "/metrics"
                    + (config.httpAccess().requiresToken() ? " (token required)" : "")
                    + ", probes /healthz and /readyz");
        }
        streams.start();
        console.println("training run " + model.runId() + " from topic " + config.tokenBatchesTopic() + " on "
                + config.bootstrapServers() + (config.maxSteps() > 0 ? ", until step " + config.maxSteps() : ""));
    }

    /** The consumer session timeout Kafka Streams will use: how long a killed member stays in the group. */
    private Duration sessionTimeout() {
        Properties streamsProperties = TrainerTopology.streamsProperties(config, model.runId());
        Object configured = streamsProperties.getOrDefault(
                StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG),
                streamsProperties.get(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG));
        return Duration.ofMillis(configured == null ? 45_000 : Long.parseLong(configured.toString()));
    }

    /**
     * The dead-letter topic's writer, its requests as large as the topic allows, and, when this run may have sent
     * dead letters after its last checkpoint (any run but a new one), those found on the topic, not to send again.
     */
    private DeadLetters openDeadLetters(int maxMessageBytes) {
        return DeadLetters.open(config.kafkaClients(), config.applicationId(), config.deadLettersTopic(),
                maxMessageBytes, model.runId(), model.newRun() ? null : model.deadLetterPositions(),
                model.handledOffsets(), ADMIN_TIMEOUT, console);
    }

    /**
     * A Kafka client's configuration: client id {@code <application id>-<role>}, the user's Kafka client settings
     * ({@code command.config}, {@code kafka.*}), the bootstrap servers, then what this client must have.
     */
    private Map<String, Object> clientConfig(String role, Map<String, ?> required) {
        Map<String, Object> clientConfig = config.kafkaClients().clientConfig(
                Map.of(CommonClientConfigs.CLIENT_ID_CONFIG, config.applicationId() + "-" + role));
        clientConfig.putAll(required);
        return clientConfig;
    }

    /**
     * Sends the restored checkpoint's metrics and sample records again, before training resumes: a crash can lose
     * the last ones in Kafka Streams' producer buffer, and steps already checkpointed are not trained again. The
     * copies have the same (run id, step) keys, so they replace any that did arrive.
     */
    private void resendCheckpointedRecords() {
        if (model.restoredFrom().isEmpty()) {
            return;
        }
        try (KafkaProducer<String, byte[]> producer = recordsProducer("resend")) {
            int sent = model.resendEmitted(producer, config.metricsTopic(), config.samplesTopic());
            if (sent > 0) {
                console.println("re-sent " + sent + " metrics and sample record(s) of the checkpoint's last steps to "
                        + config.metricsTopic() + " and " + config.samplesTopic()
                        + " (a crash may have lost them before delivery)");
            }
        }
    }

    /** A producer of metrics and sample records outside Kafka Streams: acks=all, idempotent. */
    private KafkaProducer<String, byte[]> recordsProducer(String role) {
        return new KafkaProducer<>(clientConfig(role, Map.of(ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true)), new StringSerializer(), new ByteArraySerializer());
    }

    /**
     * Sends the stop's evaluation to the metrics topic, in its step's record (the stream's producer has closed): the
     * record sent at that step, with the same key and time, completed with the held-out figures, so that it replaces
     * the first for a reader by key. Kept for the final checkpoint until delivered (then forgotten when every earlier
     * record was delivered too, {@code allDelivered}), so that a restart sends it when this send fails.
     */
    private void publishStopEvaluation(Evaluation evaluation, boolean allDelivered) {
        Optional<EmittedRecords.Emitted> completed = model.completeEmittedWith(evaluation);
        if (completed.isEmpty()) {
            return; // its step's record was not forwarded: nothing to complete
        }
        KafkaProducer<String, byte[]> producer = recordsProducer("final-evaluation");
        try {
            producer.send(completed.get().toRecord(config.metricsTopic(), config.samplesTopic()))
                    .get(STOP_SEND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            if (allDelivered) {
                model.emittedRecordsDelivered();
            }
            console.println("the final evaluation of step " + evaluation.step() + " sent to " + config.metricsTopic()
                    + " in its step's record (key " + completed.get().key() + ")");
        } catch (ExecutionException | TimeoutException | KafkaException e) {
            console.println("cannot send the final evaluation of step " + evaluation.step() + " to "
                    + config.metricsTopic() + " (" + e.getMessage() + "); the final checkpoint keeps its record, and "
                    + "the next start sends it");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            producer.close(Duration.ofSeconds(5)); // delivered, or given up on: the checkpoint keeps it
        }
    }

    /** Why the trainer is not healthy (it failed, or Kafka Streams stopped while it runs), or empty: {@code /healthz}. */
    private Optional<String> unhealthy() {
        Throwable failed = failure;
        if (failed != null) {
            return Optional.of("failed at step " + model.step() + ": " + failed);
        }
        KafkaStreams current = streams;
        if (current != null && !stopped && (current.state() == KafkaStreams.State.ERROR
                || current.state() == KafkaStreams.State.NOT_RUNNING)) {
            return Optional.of("Kafka Streams is " + current.state());
        }
        return Optional.empty();
    }

    /** Why the trainer does not train now, or empty (model resident, Kafka Streams RUNNING): {@code /readyz}. */
    private Optional<String> notReady() {
        Optional<String> unhealthy = unhealthy();
        if (unhealthy.isPresent()) {
            return unhealthy;
        }
        if (stopped) {
            return Optional.of("stopping: the model is being checkpointed and released");
        }
        KafkaStreams current = streams;
        KafkaStreams.State state = current == null ? KafkaStreams.State.CREATED : current.state();
        return state == KafkaStreams.State.RUNNING ? Optional.empty()
                : Optional.of("Kafka Streams is " + state + " (ready when RUNNING)");
    }

    /**
     * Waits until the model has applied {@code steps} steps in all (restored ones included).
     *
     * @param timeout how long at most; {@link #FOREVER} or more = no limit
     * @return true when reached, false on timeout or when {@link #stop()} was called
     * @throws IllegalStateException when the trainer failed, or Kafka Streams stopped, before
     */
    public boolean awaitSteps(long steps, Duration timeout) throws InterruptedException {
        long start = System.nanoTime();
        long timeoutNanos = timeout.compareTo(FOREVER) >= 0 ? Long.MAX_VALUE : timeout.toNanos();
        while (model.step() < steps) {
            if (failure != null) {
                throw new IllegalStateException("the trainer failed at step " + model.step() + ": " + failure, failure);
            }
            if (stopped) {
                return false;
            }
            KafkaStreams current = streams;
            if (current != null && !current.state().isRunningOrRebalancing()
                    && current.state() != KafkaStreams.State.CREATED) {
                throw new IllegalStateException("the trainer stopped at step " + model.step() + " (Kafka Streams "
                        + current.state() + ") before step " + steps);
            }
            if (System.nanoTime() - start >= timeoutNanos) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /**
     * Stops consuming, evaluates the last step on the held-out set when evaluations are on and it was trained here
     * but not evaluated yet (a stop before max.steps: Ctrl-C, shutdown; its figures go to the console, the listeners
     * and, in that step's record completed with them, the metrics topic: see {@link #publishStopEvaluation}), writes the final checkpoint (when anything
     * was trained or dead-lettered since the last one,
     * or, after a clean close, to drop the records the last one carries for a restart to re-send) and releases the
     * model; idempotent.
     *
     * @return the last checkpoint, if any was written or restored
     */
    public synchronized Optional<Path> stop() {
        if (stopped) {
            return model.lastCheckpoint();
        }
        stopped = true;
        boolean delivered = false; // every record the stream forwarded
        if (streams != null) {
            // Leave the group: the next start need not wait out (or evict) this member.
            boolean closed = streams.close(CloseOptions.timeout(CLOSE_TIMEOUT)
                    .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
            streamsMetrics.close();
            if (closed && failure == null) {
                model.emittedRecordsDelivered(); // flushed: the final checkpoint carries none to re-send
                delivered = true;
            }
        }
        if (deadLetters != null) {
            deadLetters.close();
        }
        if (metricsServer != null) {
            metricsServer.close();
        }
        if (evaluator != null && failure == null) {
            // the stream thread is gone: evaluate the last step here, once, unless it was (at max.steps)
            try {
                Optional<Evaluation> evaluation = evaluator.evaluateAtStop(model.step(), model.step() > startStep);
                if (evaluation.isPresent()) {
                    evaluator.announce(evaluation.get(), TrainerListener.all(listeners));
                    publishStopEvaluation(evaluation.get(), delivered);
                }
            } catch (RuntimeException e) {
                console.println("the final evaluation failed (the final checkpoint is still written): " + e);
            }
        }
        if (evaluator != null) {
            evaluator.close();
        }
        try {
            if (model.changedSinceCheckpoint()) {
                Path written = model.checkpoint();
                console.println("final checkpoint of step " + model.step() + ": " + written);
                if (announcer != null) {
                    Listeners.safely(() -> announcer.onCheckpoint(written, model.step()));
                }
            }
            ConsoleSummary.bestLine(model, config).ifPresent(console::println);
            return model.lastCheckpoint();
        } finally {
            if (announcer != null) {
                announcer.close();
            }
            gcMetrics.close();
            registry.close();
            model.close();
        }
    }

    @Override
    public void close() {
        stop();
    }

    public TrainerConfig config() { return config; }
    public ResidentModel model() { return model; }
    public String runId() { return model.runId(); }
    /** Optimizer steps applied so far, restored ones included. */
    public long step() { return model.step(); }
    public TrainingMeters meters() { return model.meters(); }
    /** The registry behind {@code /metrics}: every trainer, Kafka Streams and JVM meter. */
    public PrometheusMeterRegistry meterRegistry() { return registry; }
    /** Port of the {@code /metrics} endpoint, when it is on. */
    public synchronized Optional<Integer> metricsPort() {
        return Optional.ofNullable(metricsServer).map(MetricsServer::port);
    }

    /**
     * {@code java io.streamtrain.trainer.Trainer [FILE.properties] [key=value ...]}: trains until {@code max.steps}
     * or Ctrl-C, then writes the final checkpoint. Keys are those of {@link TrainerConfig}. Exit status: 0 done,
     * 1 training failed, 2 could not start (configuration, checkpoint, backend).
     */
    public static void main(String[] args) throws InterruptedException {
        Trainer trainer;
        try {
            TrainerConfig config = new TrainerConfig(properties(args));
            if (config.worldSize() > 1) {
                System.exit(RankTrainer.runToEnd(config, System.out));
                return;
            }
            trainer = new Trainer(config, System.out);
        } catch (IOException | RuntimeException e) {
            System.err.println("cannot start the trainer: " + e.getMessage());
            System.exit(2);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(trainer::stop, "streamtrain-trainer-shutdown"));
        int status = 0;
        try {
            trainer.start();
            long maxSteps = trainer.config().maxSteps();
            trainer.awaitSteps(maxSteps > 0 ? maxSteps : Long.MAX_VALUE, FOREVER);
        } catch (IOException | RuntimeException e) {
            System.err.println(e.getMessage());
            status = 1;
        }
        trainer.stop();
        System.exit(status);
    }

    /** Properties from {@code FILE.properties} arguments and {@code key=value} arguments, in order. */
    private static Properties properties(String[] args) throws IOException {
        Properties properties = new Properties();
        for (String arg : args) {
            int equals = arg.indexOf('=');
            if (equals > 0) {
                properties.put(arg.substring(0, equals), arg.substring(equals + 1));
            } else {
                try (InputStream in = Files.newInputStream(Path.of(arg))) {
                    properties.load(in);
                }
            }
        }
        return properties;
    }

    /** A listener that just collects what it hears, for callers that want the records in memory. */
    public static final class Recorder implements TrainerListener {
        private final List<TrainingMetrics> steps = new CopyOnWriteArrayList<>();
        private final List<Evaluation> evaluations = new CopyOnWriteArrayList<>();
        private final List<Path> bestCheckpoints = new CopyOnWriteArrayList<>();
        private final List<TextSample> samples = new CopyOnWriteArrayList<>();

        @Override
        public void onStep(TrainingMetrics metrics) { steps.add(metrics); }

        @Override
        public void onSample(TextSample sample) { samples.add(sample); }

        @Override
        public void onEvaluation(Evaluation evaluation) { evaluations.add(evaluation); }

        @Override
        public void onBestCheckpoint(Path path, Evaluation evaluation) { bestCheckpoints.add(path); }

        public List<TrainingMetrics> steps() { return List.copyOf(steps); }
        public List<Evaluation> evaluations() { return List.copyOf(evaluations); }
        public List<Path> bestCheckpoints() { return List.copyOf(bestCheckpoints); }
        public List<TextSample> samples() { return List.copyOf(samples); }
    }
}
