package io.streamtrain.cli.demo;

import io.streamtrain.broker.EmbeddedKafkaBroker;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.support.Directories;
import io.streamtrain.cli.support.EchoingLog;
import io.streamtrain.cli.support.ErrorHandler;
import io.streamtrain.cli.support.ProgressLine;
import io.streamtrain.cli.support.ShutdownHooks;
import io.streamtrain.monitor.Monitor;
import io.streamtrain.monitor.MonitorConfig;
import io.streamtrain.monitor.RunFiles;
import io.streamtrain.producer.DocumentProducer;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.producer.ProducerSummary;
import io.streamtrain.schemas.KafkaClientSettings;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;

import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * One {@code streamtrain demo} run, in this order: the embedded broker (unless an existing Kafka is given) and the
 * topics; the trainer (Kafka Streams, model resident on its backend), with the live console and a recorder as
 * listeners; the dashboard; the producer on its own thread, reading the inputs as many times as {@code max-steps}
 * batches need. It ends at {@code max-steps}, on Ctrl-C (a shutdown hook), when the trainer fails, or when the
 * input has run out. Then, whatever happened: producer stopped, trainer stopped (final checkpoint), dashboard
 * closed, {@code metrics_history.json} and {@code text_samples.json} written from the recorder, broker closed and
 * its temporary data deleted.
 */
final class DemoRun {
    /** With the producer done, this long without a new step means the input ran out before max-steps. */
    private static final Duration STALL_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration PRODUCER_JOIN_TIMEOUT = Duration.ofSeconds(10);
    /** The fewest stream bytes per token any of our tokenizers makes (byte: 1), and a generous bound for BPE. */
    private static final int BYTE_TOKENIZER_BYTES_PER_TOKEN = 1;
    private static final int BPE_BYTES_PER_TOKEN_BOUND = 8;
    private static final int MAX_EPOCHS = 100_000;
    private static final double EPOCH_MARGIN = 1.02;
    /** The share of the input the demo holds out for evaluation, in blocks of this many tokens (the sample corpus
     * is fifteen documents of a few KB: small blocks spread the held-out part over them). */
    private static final double HOLDOUT = 0.1;
    private static final int HOLDOUT_BLOCK_TOKENS = 1024;
    /**
     * The demo's learning: warm-up over 20 steps, then a cosine to a tenth of the peak at max-steps, on rows shuffled
     * through a buffer of 1024 (batches of windows from all over the corpus, not 32 neighbours of one document).
     * Measured on the sample corpus, tiny model, 200 steps of 32 x 64 tokens at 2e-3 (against 8 x 256 at a constant
     * 1e-3 with a 10-step warm-up, the earlier default): training loss 2.22 (2.35) and still falling at step 200,
     * held-out 2.30 (2.44), largest gradient norm 40 (73 to 238, at steps 22 and 23).
     */
    static final long WARMUP_STEPS = 20;
    private static final int SHUFFLE_ROWS = 1024;

    /**
     * What the demo command resolved from its options.
     *
     * @param bootstrapServers an existing Kafka, or null for the embedded broker
     * @param commandConfig    the Kafka client properties file of an existing Kafka, or empty
     * @param dashboardPort    port of the dashboard; 0 any free port; negative: no dashboard
     */
    record Settings(String model, String tokenizer, String backend, int cpuThreads, int batchRows, int sequenceLength,
                    long maxSteps, int sampleEverySteps, List<Path> inputs, Path runDirectory, String bootstrapServers,
                    String commandConfig,
                    int dashboardPort, long seed, double learningRate) {}

    private final Settings settings;
    private final PrintWriter out;
    private final boolean terminal = System.console() != null;
    private final String runId = TrainerConfig.generateRunId();
    private final Trainer.Recorder recorder = new Trainer.Recorder();
    private final DemoConsole console;
    private final AtomicReference<ProducerSummary> producerSummary = new AtomicReference<>();
    private final AtomicReference<RuntimeException> producerFailure = new AtomicReference<>();
    private final List<PrintStream> logs = new ArrayList<>();
    private final long startNanos = System.nanoTime();

    private EmbeddedKafkaBroker broker;
    private Path corpusDirectory;
    private Trainer trainer;
    private Monitor monitor;
    private DocumentProducer producer;
    private Thread producerThread;
    private volatile boolean interrupted;
    private boolean finished;

    DemoRun(Settings settings, PrintWriter out) {
        this.settings = settings;
        this.out = out;
        this.console = new DemoConsole(out, settings.maxSteps(), terminal);
    }

    /** Runs the demo to its end and cleans up; returns the exit code. */
    int run() throws IOException, InterruptedException {
        Path runDir = settings.runDirectory();
        Path checkpoints = runDir.resolve("checkpoints");
        if (Files.isDirectory(checkpoints) && !isEmpty(checkpoints)) {
            throw new CliException("--run-dir " + runDir + " already holds checkpoints of an earlier run: choose a new"
                    + " directory (or continue that run with `streamtrain train --run-dir " + runDir + "`)");
        }
        Files.createDirectories(runDir);
        Thread hook = new Thread(this::interruptFromSignal, "streamtrain-demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            start();
            return awaitEnd();
        } catch (RuntimeException e) {
            if (interrupted) {
                return 130; // Ctrl-C: the shutdown hook reports and cleans up
            }
            throw e;
        } finally {
            finish();
            ShutdownHooks.remove(hook);
        }
    }

    private void start() throws IOException {
        out.println(String.format(Locale.ROOT, "streamtrain demo: run %s, model %s (B=%d, T=%d), tokenizer %s, backend %s,"
                        + " %d steps", runId, settings.model(), settings.batchRows(), settings.sequenceLength(),
                settings.tokenizer(), settings.backend(), settings.maxSteps()));
        out.println("run directory: " + settings.runDirectory().toAbsolutePath());
        out.flush();

        String bootstrapServers = settings.bootstrapServers();
        String tokenBatchesTopic = Topics.TOKEN_BATCHES;
        String evalTopic = Topics.EVAL_BATCHES;
        if (bootstrapServers == null) {
            long brokerStart = System.nanoTime();
            broker = EmbeddedKafkaBroker.startTemporary();
            bootstrapServers = broker.bootstrapServers();
            broker.createTopics(List.of(Topics.TOKEN_BATCHES, Topics.EVAL_BATCHES, Topics.METRICS, Topics.SAMPLES,
                    Topics.DEAD_LETTERS), 1);
            out.println(String.format(Locale.ROOT, "kafka: embedded KRaft broker at %s, started in %.1f s (data in a"
                    + " temporary directory, deleted at the end)", bootstrapServers, seconds(brokerStart)));
        } else {
            // An existing cluster may hold other batches: this run reads a topic of its own.
            tokenBatchesTopic = Topics.TOKEN_BATCHES + ".demo-" + runId;
            evalTopic = Topics.EVAL_BATCHES + ".demo-" + runId;
            out.println("kafka: " + bootstrapServers + " (token batches on topic " + tokenBatchesTopic + ")");
        }
        out.flush();

        List<Path> inputs = settings.inputs();
        String inputDescription;
        if (inputs.isEmpty()) {
            corpusDirectory = Files.createTempDirectory("streamtrain-sample-corpus-");
            SampleCorpus.copyTo(corpusDirectory);
            inputs = List.of(corpusDirectory);
            inputDescription = "the sample corpus shipped with streamtrain";
        } else {
            inputDescription = inputs.toString();
        }
        long inputBytes = totalBytes(inputs);
        int epochs = epochs(settings.tokenizer(), (long) (inputBytes * (1 - HOLDOUT)),
                settings.maxSteps() * settings.batchRows() * settings.sequenceLength() + 1);
        out.println(String.format(Locale.ROOT, "data: %s, %s, read %d time%s to feed %d steps; %.0f%% held out for"
                        + " evaluation every %d steps", inputDescription, ProgressLine.bytes(inputBytes), epochs,
                epochs == 1 ? "" : "s", settings.maxSteps(), 100 * HOLDOUT, evalEverySteps()));
        out.flush();

        String applicationId = "streamtrain-demo-" + runId;
        // The trainer's output goes to trainer.log; its choice of backend (and why) is shown here too.
        trainer = new Trainer(new TrainerConfig(trainerProperties(bootstrapServers, tokenBatchesTopic, evalTopic,
                applicationId)),
                log("trainer.log", "backend:"));
        trainer.addListener(recorder);
        trainer.addListener(console);
        trainer.start();

        if (settings.dashboardPort() >= 0) {
            startDashboard(bootstrapServers, applicationId);
        }

        producer = new DocumentProducer(producerSettings(bootstrapServers, tokenBatchesTopic, evalTopic, inputs, epochs),
                log("producer.log"));
        producerThread = new Thread(() -> {
            try {
                producerSummary.set(producer.call());
            } catch (RuntimeException e) {
                producerFailure.set(e);
            }
        }, "streamtrain-demo-producer");
        producerThread.setDaemon(true);
        producerThread.start();
        out.println("logs: trainer.log and producer.log in the run directory; Ctrl-C stops cleanly");
        out.flush();
    }

    /** Evaluations per demo: four, the last at max-steps. */
    private int evalEverySteps() {
        return (int) Math.max(1, settings.maxSteps() / 4);
    }

    ProducerSettings producerSettings(String bootstrapServers, String tokenBatchesTopic, String evalTopic,
                                      List<Path> inputs, int epochs) {
        return ProducerSettings.builder()
                .bootstrapServers(bootstrapServers)
                .commandConfig(settings.commandConfig())
                .topic(tokenBatchesTopic)
                .dataset("demo-" + runId)
                .tokenizer(settings.tokenizer())
                .batchRows(settings.batchRows())
                .sequenceLength(settings.sequenceLength())
                .inputs(inputs.stream().map(Path::toString).toList())
                .epochs(epochs)
                .holdout(HOLDOUT)
                .holdoutBlockTokens(HOLDOUT_BLOCK_TOKENS)
                .shuffleRows(SHUFFLE_ROWS)
                .evalTopic(evalTopic)
                .progress("log")
                .build();
    }

    Map<String, Object> trainerProperties(String bootstrapServers, String tokenBatchesTopic, String evalTopic,
                                                  String applicationId) {
        Map<String, Object> properties = new HashMap<>();
        properties.put(TrainerConfig.BOOTSTRAP_SERVERS, bootstrapServers);
        properties.put(KafkaClientSettings.COMMAND_CONFIG, settings.commandConfig());
        properties.put(TrainerConfig.APPLICATION_ID, applicationId);
        properties.put(TrainerConfig.TOKEN_BATCHES_TOPIC, tokenBatchesTopic);
        properties.put(TrainerConfig.RUN_ID, runId);
        properties.put(TrainerConfig.RUN_DIR, settings.runDirectory().toString());
        properties.put(TrainerConfig.MODEL, settings.model());
        properties.put(TrainerConfig.BACKEND, settings.backend());
        properties.put(TrainerConfig.CPU_THREADS, settings.cpuThreads());
        properties.put(TrainerConfig.TOKENIZER, settings.tokenizer());
        properties.put(TrainerConfig.BATCH_ROWS, settings.batchRows());
        properties.put(TrainerConfig.SEQUENCE_LENGTH, settings.sequenceLength());
        properties.put(TrainerConfig.MAX_STEPS, settings.maxSteps());
        properties.put(TrainerConfig.SAMPLE_EVERY_STEPS, settings.sampleEverySteps());
        properties.put(TrainerConfig.SEED, settings.seed());
        properties.put(TrainerConfig.LEARNING_RATE, settings.learningRate());
        properties.put(TrainerConfig.LEARNING_RATE_WARMUP_STEPS, Math.min(WARMUP_STEPS, settings.maxSteps() - 1));
        properties.put(TrainerConfig.LEARNING_RATE_DECAY, "cosine");
        properties.put(TrainerConfig.EVAL_TOPIC, evalTopic);
        properties.put(TrainerConfig.EVAL_EVERY_STEPS, evalEverySteps());
        return properties;
    }

    private void startDashboard(String bootstrapServers, String applicationId) throws IOException {
        Map<String, Object> properties = new HashMap<>();
        properties.put(MonitorConfig.BOOTSTRAP_SERVERS, bootstrapServers);
        properties.put(KafkaClientSettings.COMMAND_CONFIG, settings.commandConfig());
        properties.put(MonitorConfig.RUN_ID, runId);
        properties.put(MonitorConfig.RUN_DIRECTORY, settings.runDirectory().toString());
        properties.put(MonitorConfig.TRAINER_APPLICATION_ID, applicationId);
        properties.put(MonitorConfig.HTTP_PORT, settings.dashboardPort());
        try {
            monitor = Monitor.start(new MonitorConfig(properties), log("monitor.log"));
        } catch (IOException e) {
            if (settings.dashboardPort() == 0 || !(e instanceof BindException || e.getCause() instanceof BindException
                    || String.valueOf(e.getMessage()).contains("in use"))) {
                throw e;
            }
            properties.put(MonitorConfig.HTTP_PORT, 0); // the default port is taken: any free one will do
            monitor = Monitor.start(new MonitorConfig(properties), log("monitor.log"));
        }
        out.println("dashboard: " + monitor.url());
    }

    /** Waits for max-steps; returns the exit code. */
    private int awaitEnd() throws InterruptedException {
        long lastStep = -1;
        long lastProgressNanos = System.nanoTime();
        while (!interrupted) {
            if (trainer.awaitSteps(settings.maxSteps(), Duration.ofMillis(500))) {
                return 0;
            }
            if (producerFailure.get() != null) {
                throw new CliException("the producer failed: " + ErrorHandler.describe(producerFailure.get())
                        + " (see producer.log in " + settings.runDirectory() + ")", producerFailure.get());
            }
            long step = trainer.step();
            if (step != lastStep) {
                lastStep = step;
                lastProgressNanos = System.nanoTime();
            } else if (producerSummary.get() != null
                    && System.nanoTime() - lastProgressNanos > STALL_TIMEOUT.toNanos()) {
                ProducerSummary summary = producerSummary.get();
                throw new CliException(String.format(Locale.ROOT, "the input ran out at step %d of %d: the producer"
                                + " published %d batches and no step came for %d s%s; give more --input or fewer --max-steps",
                        step, settings.maxSteps(), summary.batches(), STALL_TIMEOUT.toSeconds(),
                        console.deadLetters() > 0 ? " (" + console.deadLetters() + " batches went to the dead-letter topic)" : ""));
            }
        }
        return 130;
    }

    /** Ctrl-C: say so and clean up; the JVM exits when this returns. */
    private void interruptFromSignal() {
        interrupted = true;
        console.endLine();
        out.println("interrupted: stopping cleanly (final checkpoint, files) ...");
        out.flush();
        finish();
    }

    /** Stops everything that started, in reverse order, and writes the run's files; runs once. */
    private synchronized void finish() {
        if (finished) {
            return;
        }
        finished = true;
        console.endLine();
        List<String> problems = new ArrayList<>();
        if (producer != null) {
            producer.stop();
        }
        Optional<Path> checkpoint = Optional.empty();
        if (trainer != null) {
            try {
                checkpoint = trainer.stop();
            } catch (RuntimeException e) {
                problems.add("stopping the trainer: " + ErrorHandler.describe(e));
            }
        }
        if (monitor != null) {
            try {
                monitor.close();
            } catch (RuntimeException | LinkageError e) {
                problems.add("closing the dashboard: " + ErrorHandler.describe(e));
            }
        }
        List<TrainingMetrics> steps = recorder.steps();
        List<TextSample> samples = recorder.samples();
        try {
            RunFiles.writeMetricsHistory(settings.runDirectory(), steps);
            RunFiles.writeTextSamples(settings.runDirectory(), samples);
        } catch (IOException | RuntimeException e) {
            problems.add("writing the run files: " + ErrorHandler.describe(e));
        }
        if (producerThread != null) {
            try {
                producerThread.join(PRODUCER_JOIN_TIMEOUT.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (broker != null) {
            try {
                broker.close();
            } catch (RuntimeException e) {
                problems.add("stopping the embedded broker: " + ErrorHandler.describe(e));
            }
        }
        if (corpusDirectory != null) {
            Directories.deleteQuietly(corpusDirectory, "the copy of the sample corpus");
        }
        logs.forEach(PrintStream::close);
        report(steps, samples, checkpoint);
        problems.forEach(problem -> out.println("warning: " + problem));
        out.flush();
    }

    private void report(List<TrainingMetrics> steps, List<TextSample> samples, Optional<Path> checkpoint) {
        Path runDir = settings.runDirectory();
        if (steps.isEmpty()) {
            out.println(String.format(Locale.ROOT, "no training step was made in %.1f s; see trainer.log in %s",
                    seconds(startNanos), runDir));
            return;
        }
        TrainingMetrics first = steps.get(0);
        TrainingMetrics last = steps.get(steps.size() - 1);
        double tokensPerSecond = steps.stream().mapToDouble(TrainingMetrics::getTokensPerSecond).average().orElse(0);
        out.println(String.format(Locale.ROOT, "trained %d steps in %.1f s: loss %.4f -> %.4f, accuracy %.1f%% -> %.1f%%,"
                        + " %,.0f tokens/s on average", steps.size(), seconds(startNanos), first.getLoss(), last.getLoss(),
                100 * first.getAccuracy(), 100 * last.getAccuracy(), tokensPerSecond));
        steps.stream().filter(m -> m.getEvalLoss() != null)
                .min(java.util.Comparator.comparingDouble(TrainingMetrics::getEvalLoss))
                .ifPresentOrElse(best -> out.println(String.format(Locale.ROOT, "best held-out loss %.4f at step %d",
                                best.getEvalLoss(), best.getStep())),
                        () -> out.println("no held-out evaluation: the held-out part of the input does not fill a batch"));
        out.println("files in " + runDir + ":");
        out.println("  " + RunFiles.METRICS_HISTORY + " (" + steps.size() + " steps), " + RunFiles.TEXT_SAMPLES
                + " (" + samples.size() + " samples)");
        checkpoint.ifPresent(path -> out.println("  checkpoint: " + path));
    }

    /**
     * A log file in the run directory, as a PrintStream for the components that print progress; its lines that
     * start with one of {@code echoedPrefixes} are shown on the console as well.
     */
    private PrintStream log(String name, String... echoedPrefixes) throws IOException {
        PrintStream stream = new PrintStream(new EchoingLog(Files.newOutputStream(settings.runDirectory().resolve(name)),
                out, echoedPrefixes), true, StandardCharsets.UTF_8);
        logs.add(stream);
        return stream;
    }

    /**
     * How many times to read inputs of {@code inputBytes} for {@code tokensNeeded} stream tokens: the byte tokenizer
     * makes at least one token per byte; BPE tokenizers are assumed to make at least one per
     * {@value #BPE_BYTES_PER_TOKEN_BOUND} bytes; 2% is added for safety. Reading too much costs little: the
     * trainer stops at max-steps and the rest stays in the topic.
     */
    static int epochs(String tokenizer, long inputBytes, long tokensNeeded) {
        int bytesPerToken = tokenizer.equals("byte") ? BYTE_TOKENIZER_BYTES_PER_TOKEN : BPE_BYTES_PER_TOKEN_BOUND;
        long tokensPerEpoch = Math.max(1, inputBytes / bytesPerToken);
        // 2% to spare: documents may lose a few bytes on reading (a byte-order mark, a stripped line ending).
        long epochs = (long) Math.ceil(tokensNeeded * EPOCH_MARGIN / tokensPerEpoch);
        return (int) Math.min(MAX_EPOCHS, Math.max(1, epochs));
    }

    static long totalBytes(List<Path> inputs) throws IOException {
        long total = 0;
        for (Path input : inputs) {
            if (Files.isDirectory(input)) {
                try (Stream<Path> files = Files.walk(input)) {
                    total += files.filter(Files::isRegularFile).mapToLong(DemoRun::size).sum();
                }
            } else {
                total += Files.size(input);
            }
        }
        return total;
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean isEmpty(Path directory) throws IOException {
        try (Stream<Path> entries = Files.list(directory)) {
            return entries.findAny().isEmpty();
        }
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }
}
