package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.producer.DocumentProducer;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.producer.ProducerSummary;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.trainer.internal.ModelAnnouncer;
import io.streamtrain.schemas.ModelAnnouncement;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import java.util.ArrayList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.Deserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end on a real broker in this JVM: the producer publishes a small corpus after one bad record of each kind,
 * the trainer trains the CPU tiny model for 20 steps, and the test reads the topics back (the bad records in the
 * dead-letter topic with their reasons);
 * then a second trainer resumes from the final checkpoint exactly where the first one stopped.
 */
class TrainerKafkaTest {
    private static final int B = 4;
    private static final int T = 64;
    private static final int STEPS = 20;
    private static final Duration TIMEOUT = Duration.ofMinutes(3);

    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass();

    @TempDir
    Path dir;

    @Test
    void shouldTrainFromProducedBatchesDeadLetterPoisonAndResumeFromTheCheckpoint() throws Exception {
        for (String topic : List.of(Topics.TOKEN_BATCHES, Topics.METRICS, Topics.SAMPLES, Topics.DEAD_LETTERS)) {
            kafka.createTopic(topic, 1);
        }
        List<TestBatches.BadRecord> bad = TestBatches.badRecords(B, T);   // offsets 0 .. BAD-1
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (TestBatches.BadRecord record : bad) {
                producer.send(new ProducerRecord<>(Topics.TOKEN_BATCHES, bytes("bad"), record.bytes())).get();
            }
        }
        int firstGood = bad.size(); // offset of the first good batch
        Path corpus = dir.resolve("hamlet.txt");
        Files.writeString(corpus, TestBatches.TEXT.repeat(30));                                    // ~8 k bytes
        ProducerSummary produced = DocumentProducer.run(ProducerSettings.builder()
                .bootstrapServers(kafka.bootstrapServers()).dataset("hamlet").tokenizer("byte")
                .batchRows(B).sequenceLength(T).inputs(List.of(corpus.toString())).progress("none").build(),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertTrue(produced.batches() >= STEPS + 5, "corpus too small: " + produced.batches() + " batches");

        int metricsPort;
        try (ServerSocket socket = new ServerSocket(0)) {
            metricsPort = socket.getLocalPort();
        }
        Map<String, Object> properties = TestBatches.config(dir.resolve("run"), B, T,
                TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                TrainerConfig.MAX_STEPS, STEPS,
                TrainerConfig.SAMPLE_EVERY_STEPS, 5,
                TrainerConfig.SAMPLE_MAX_NEW_TOKENS, 40,
                TrainerConfig.CHECKPOINT_EVERY_STEPS, 10,
                TrainerConfig.METRICS_PORT, metricsPort,
                "http.token", "scrape-token",
                TrainerConfig.STREAMS_PREFIX + "commit.interval.ms", 200);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Trainer.Recorder recorder = new Trainer.Recorder();
        Path finalCheckpoint;
        try (Trainer trainer = new Trainer(new TrainerConfig(properties),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            trainer.addListener(recorder);
            trainer.start();
            assertTrue(trainer.awaitSteps(STEPS, TIMEOUT), "20 steps within " + TIMEOUT);
            URI endpoint = URI.create("http://127.0.0.1:" + metricsPort + "/");
            HttpClient http = HttpClient.newHttpClient();
            assertEquals(401, http.send(HttpRequest.newBuilder(endpoint.resolve("/metrics")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode(), "the token is required");
            HttpResponse<String> ready = http.send(HttpRequest.newBuilder(endpoint.resolve("/readyz")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, ready.statusCode(), "ready while training: " + ready.body());
            assertEquals(200, http.send(HttpRequest.newBuilder(endpoint.resolve("/healthz")).build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode());
            String scrape = http.send(HttpRequest.newBuilder(endpoint.resolve("/metrics"))
                    .header("Authorization", "Bearer scrape-token").build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(scrape.contains("streamtrain_training_steps_total"), scrape);
            assertTrue(scrape.contains("streamtrain_dead_letters_total{reason=\"not-a-token-batch\"} 2.0"), scrape);
            assertTrue(scrape.contains("streamtrain_dead_letters_total{reason=\"tokenizer-mismatch\"} 1.0"), scrape);
            assertTrue(scrape.contains("kafka_stream"), "Kafka Streams metrics are bound");
            finalCheckpoint = trainer.stop().orElseThrow();
        }
        String printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("step     10 | loss"), printed);
        assertTrue(printed.contains("step     20 | loss"), printed);

        List<TrainingMetrics> steps = values(Topics.METRICS, STEPS, AvroSerdes.trainingMetrics().deserializer());
        assertEquals(STEPS, steps.size());
        for (int i = 0; i < STEPS; i++) {
            assertEquals(i + 1, steps.get(i).getStep());
            assertTrue(Double.isFinite(steps.get(i).getLoss()), "finite loss at step " + (i + 1));
            assertEquals(firstGood + i, steps.get(i).getSourceOffset(), "the bad records were dead letters");
        }
        double first = (steps.get(0).getLoss() + steps.get(1).getLoss() + steps.get(2).getLoss()) / 3;
        double last = (steps.get(STEPS - 1).getLoss() + steps.get(STEPS - 2).getLoss()
                + steps.get(STEPS - 3).getLoss()) / 3;
        assertTrue(last < first - 0.5, "the loss falls: first steps " + first + ", last steps " + last);
        assertEquals(steps, recorder.steps(), "the listener hears what the topic receives");

        List<TextSample> samples = values(Topics.SAMPLES, 4, AvroSerdes.textSample().deserializer());
        assertEquals(List.of(5L, 10L, 15L, 20L), samples.stream().map(TextSample::getStep).toList());
        for (TextSample sample : samples) {
            assertEquals(10, sample.getPrompt().length(), "10 byte tokens of ASCII text: " + sample.getPrompt());
            assertEquals(40, sample.getActual().length());
            assertFalse(sample.getGenerated().isEmpty());
        }

        List<ConsumerRecord<byte[], byte[]>> letters = read(Topics.DEAD_LETTERS, bad.size());
        for (int i = 0; i < bad.size(); i++) {
            ConsumerRecord<byte[], byte[]> letter = letters.get(i);
            assertEquals(bad.get(i).reason(), reason(letter), bad.get(i).toString());
            assertArrayEquals(bad.get(i).bytes(), letter.value(), "original bytes of " + bad.get(i));
            assertEquals(Topics.TOKEN_BATCHES, header(letter, "__streams.errors.topic"));
            assertEquals("0", header(letter, "__streams.errors.partition"));
            assertEquals(Integer.toString(i), header(letter, "__streams.errors.offset"));
        }

        Checkpoint checkpoint = Checkpoints.read(finalCheckpoint);
        assertEquals(STEPS, checkpoint.step());
        long lastOffset = firstGood + STEPS - 1;
        assertEquals(Long.toString(lastOffset), checkpoint.metadata().get("kafka.offset." + Topics.TOKEN_BATCHES + "-0"));
        assertEquals(Long.toString(STEPS), checkpoint.metadata().get(RunLedger.BATCHES_TRAINED_KEY));
        assertEquals("test-run", checkpoint.metadata().get(RunLedger.RUN_ID_KEY));

        // A second trainer of the same run resumes at the checkpoint: step 21 is the record after lastOffset,
        // whatever Kafka Streams had fetched or committed past it before the first one stopped.
        properties.put(TrainerConfig.MAX_STEPS, STEPS + 3);
        properties.remove(TrainerConfig.METRICS_PORT);
        try (Trainer resumed = new Trainer(new TrainerConfig(properties),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            assertEquals(STEPS, resumed.step());
            resumed.start();
            assertTrue(resumed.awaitSteps(STEPS + 3, TIMEOUT));
        }
        printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("restored ") && printed.contains("offsets {streamtrain.token-batches-0=" + lastOffset + "}"),
                printed);
        List<TrainingMetrics> all = values(Topics.METRICS, STEPS + 3, AvroSerdes.trainingMetrics().deserializer());
        assertEquals(STEPS + 3, all.size());
        for (int i = STEPS; i < STEPS + 3; i++) {
            assertEquals(i + 1, all.get(i).getStep());
            assertEquals(firstGood + i, all.get(i).getSourceOffset(), "no batch skipped or trained twice across the restart");
        }
    }

    @Test
    void shouldTrainOneResidentModelFromEveryPartitionAndCheckpointEachOffset() throws Exception {
        String input = "two-partitions.token-batches";
        String metricsTopic = "two-partitions.metrics";
        kafka.createTopic(input, 2);
        kafka.createTopic(metricsTopic, 1);
        TestBatches batches = new TestBatches(B, T);
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (int i = 0; i < 6; i++) {  // offsets 0, 1, 2 of each partition
                producer.send(new ProducerRecord<>(input, i % 2, bytes("hamlet"),
                        AvroSerdes.tokenBatch().serializer().serialize(input, batches.next()))).get();
            }
        }
        Map<String, Object> properties = TestBatches.config(dir.resolve("run"), B, T,
                TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                TrainerConfig.APPLICATION_ID, "two-partitions",
                TrainerConfig.TOKEN_BATCHES_TOPIC, input,
                TrainerConfig.METRICS_TOPIC, metricsTopic,
                TrainerConfig.SAMPLES_TOPIC, "two-partitions.samples",
                TrainerConfig.DEAD_LETTERS_TOPIC, "two-partitions.dead-letters",
                TrainerConfig.MAX_STEPS, 6);
        Path checkpoint;
        try (Trainer trainer = new Trainer(new TrainerConfig(properties),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8))) {
            trainer.start();
            assertTrue(trainer.awaitSteps(6, TIMEOUT));
            checkpoint = trainer.stop().orElseThrow();
        }
        List<TrainingMetrics> steps = values(metricsTopic, 6, AvroSerdes.trainingMetrics().deserializer());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), steps.stream().map(TrainingMetrics::getStep).toList());
        for (int partition = 0; partition < 2; partition++) {
            int p = partition;
            assertEquals(List.of(0L, 1L, 2L), steps.stream().filter(m -> m.getSourcePartition() == p)
                    .map(TrainingMetrics::getSourceOffset).toList(), "partition " + p + " in order, each batch once");
        }
        Map<String, String> metadata = Checkpoints.read(checkpoint).metadata();
        assertEquals("2", metadata.get("kafka.offset." + input + "-0"));
        assertEquals("2", metadata.get("kafka.offset." + input + "-1"));
    }

    @Test
    void shouldTrainEveryBatchOfADatasetTheProducerSpreadOverFourPartitionsOnceWithTwoReplicas() throws Exception {
        String input = "spread.token-batches";
        String metricsTopic = "spread.metrics";
        kafka.createTopic(input, 4);
        kafka.createTopic(metricsTopic, 1);
        Path corpus = Files.writeString(dir.resolve("spread.txt"), TestBatches.TEXT.repeat(12)); // ~3.7 k bytes
        ProducerSummary produced = DocumentProducer.run(ProducerSettings.builder()
                .bootstrapServers(kafka.bootstrapServers()).topic(input).dataset("hamlet").tokenizer("byte")
                .batchRows(B).sequenceLength(T).inputs(List.of(corpus.toString())).progress("none").build(),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        int batches = (int) produced.batches();
        assertTrue(batches >= 12, "corpus too small: " + batches + " batches");
        Map<String, Object> properties = TestBatches.config(dir.resolve("run"), B, T,
                TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                TrainerConfig.APPLICATION_ID, "spread",
                TrainerConfig.TOKEN_BATCHES_TOPIC, input,
                TrainerConfig.METRICS_TOPIC, metricsTopic,
                TrainerConfig.SAMPLES_TOPIC, "spread.samples",
                TrainerConfig.DEAD_LETTERS_TOPIC, "spread.dead-letters",
                TrainerConfig.REPLICAS, 2,
                TrainerConfig.MAX_STEPS, batches);
        Path checkpoint;
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Trainer trainer = new Trainer(new TrainerConfig(properties),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            trainer.start();
            assertTrue(trainer.awaitSteps(batches, TIMEOUT), batches + " steps within " + TIMEOUT);
            checkpoint = trainer.stop().orElseThrow();
            String scrape = trainer.meterRegistry().scrape();
            for (String meter : List.of("streamtrain_training_replicas 2.0",
                    "streamtrain_training_global_batch_rows " + B + ".0",
                    "streamtrain_training_allreduce_time_seconds_count{rank=\"0\"} " + batches + "\n",
                    "streamtrain_training_allreduce_time_seconds_count{rank=\"1\"} " + batches + "\n",
                    "streamtrain_training_rank_tokens_per_second{rank=\"1\"}")) {
                assertTrue(scrape.contains(meter), meter + " in\n" + scrape);
            }
        }
        String printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("2 replicas"), printed);
        assertTrue(printed.contains(" | 2 ranks, " + B + " rows | all-reduce "), "the step lines: " + printed);

        List<TrainingMetrics> steps = values(metricsTopic, batches, AvroSerdes.trainingMetrics().deserializer());
        for (TrainingMetrics step : steps) {
            assertEquals(2, step.getRanks(), "the record carries the rank count");
            assertEquals(B, step.getGlobalRows(), "and the global batch");
            assertTrue(step.getAllReduceMillis() != null && step.getAllReduceMillis() >= 0, "and rank 0's all-reduce");
        }
        Map<String, String> metadata = Checkpoints.read(checkpoint).metadata();
        assertEquals(Integer.toString(batches), metadata.get(RunLedger.BATCHES_TRAINED_KEY));
        for (int partition = 0; partition < 4; partition++) {
            int p = partition;
            long inPartition = java.util.stream.LongStream.range(0, batches).filter(k -> k % 4 == p).count();
            assertTrue(steps.stream().anyMatch(m -> m.getSourcePartition() == p), "partition " + p + " is used");
            assertEquals(java.util.stream.LongStream.range(0, inPartition).boxed().toList(),
                    steps.stream().filter(m -> m.getSourcePartition() == p).map(TrainingMetrics::getSourceOffset)
                            .toList(), "partition " + p + " in order, each batch once");
            assertEquals(Long.toString(inPartition - 1), metadata.get("kafka.offset." + input + "-" + p));
            long checksum = 0;
            for (long sequence = p; sequence < batches; sequence += 4) { // shard hamlet@p: batches p, p + 4, ...
                checksum = 31 * checksum + sequence;
            }
            assertEquals(Long.toString(checksum), metadata.get(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + "hamlet@" + p),
                    "the order checksum of shard hamlet@" + p);
        }
    }

    @Test
    void shouldAnnounceEveryCheckpointAndEveryNewBestOnTheCompactedModelsTopic() throws Exception {
        String input = "announced.token-batches";
        String modelsTopic = "announced.models";
        kafka.createTopic(input, 1);
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (long sequence = 0; sequence < 4; sequence++) {
                producer.send(new ProducerRecord<>(input, NumberedBatches.key(),
                        NumberedBatches.value(input, sequence))).get();
            }
        }
        Map<String, String> config = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "announced", input,
                dir.resolve("announced"), TrainerConfig.MODELS_TOPIC, modelsTopic, TrainerConfig.RUN_ID, "run-a",
                TrainerConfig.CHECKPOINT_EVERY_STEPS, "2", TrainerConfig.MAX_STEPS, "4");
        Path checkpoint;
        try (Trainer trainer = new Trainer(new TrainerConfig(NumberedBatches.asProperties(config)),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8))) {
            trainer.start();
            assertTrue(trainer.awaitSteps(4, TIMEOUT));
            checkpoint = trainer.stop().orElseThrow();
        }
        // the held-out evaluation's calls (its own tests drive them from real evaluations), on a real producer
        try (ModelAnnouncer announcer = new ModelAnnouncer(new KafkaProducer<>(Map.<String, Object>of(
                ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()), new StringSerializer(),
                new ByteArraySerializer()), modelsTopic, "run-a", "byte", () -> 256, System.out)) {
            announcer.onHeldOutLoss(4, 2.5);
            announcer.onCheckpoint(checkpoint, 4);
            announcer.onNewBest(checkpoint, 4, 2.5);
        }

        List<ConsumerRecord<byte[], byte[]>> records = read(modelsTopic, 5);
        Deserializer<ModelAnnouncement> deserializer = AvroSerdes.modelAnnouncement().deserializer();
        List<ModelAnnouncement> announced = records.stream()
                .map(record -> deserializer.deserialize(modelsTopic, record.value())).toList();
        assertEquals(List.of(2L, 4L, 4L, 4L, 4L), announced.stream().map(ModelAnnouncement::getStep).toList(),
                "every checkpoint the trainer wrote (steps 2 and 4, the final one again at 4), then the two above");
        assertEquals(List.of("run-a", "run-a", "run-a", "run-a", "run-a/best"),
                records.stream().map(record -> new String(record.key(), StandardCharsets.UTF_8)).toList());
        ModelAnnouncement last = announced.get(2);
        assertEquals("checkpoint", last.getKind());
        assertEquals(4L * NumberedBatches.B * NumberedBatches.T, last.getTokensTrained());
        assertEquals(checkpoint.toAbsolutePath().toUri().toString(), last.getUri());
        assertEquals(ModelAnnouncer.sha256(checkpoint), last.getSha256());
        assertEquals(Files.size(checkpoint), last.getSizeBytes());
        assertEquals("byte", last.getTokenizer());
        assertEquals(null, last.getHeldOutLoss(), "no held-out loss was reported for the trainer's checkpoints");
        assertEquals(2.5, announced.get(3).getHeldOutLoss(), "the held-out loss of the checkpoint's step");
        assertEquals("best", announced.get(4).getKind());
        assertEquals(2.5, announced.get(4).getHeldOutLoss());
        try (var admin = kafka.admin()) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, modelsTopic);
            assertEquals("compact", admin.describeConfigs(List.of(resource)).all().get().get(resource)
                    .get("cleanup.policy").value());
        }
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** The settings of a trainer of a held-out run and the batches produced to train on. */
    private record HeldOutRun(Map<String, Object> properties, long batches) {}

    /**
     * A corpus of {@code repeats} times the text (40: ~13 k bytes) produced with a quarter held out to
     * {@code <name>.batches} and {@code <name>.eval}, and the settings of a trainer of it (run directory
     * {@code dir/<name>}) that evaluates every 5 steps on 3 batches.
     */
    private HeldOutRun heldOutRun(String name, int repeats, int maxSteps) throws Exception {
        Path corpus = dir.resolve(name + ".txt");
        Files.writeString(corpus, TestBatches.TEXT.repeat(repeats));
        ProducerSummary produced = DocumentProducer.run(ProducerSettings.builder()
                .bootstrapServers(kafka.bootstrapServers()).dataset("hamlet").tokenizer("byte")
                .topic(name + ".batches").evalTopic(name + ".eval").holdout(0.25).holdoutBlockTokens(256)
                .batchRows(B).sequenceLength(T).inputs(List.of(corpus.toString())).progress("none").build(),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertTrue(produced.evalBatches() >= 3, "held-out batches: " + produced.evalBatches());
        return new HeldOutRun(TestBatches.config(dir.resolve(name), B, T,
                TrainerConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                TrainerConfig.APPLICATION_ID, name,
                TrainerConfig.TOKEN_BATCHES_TOPIC, name + ".batches",
                TrainerConfig.EVAL_TOPIC, name + ".eval",
                TrainerConfig.METRICS_TOPIC, name + ".metrics",
                TrainerConfig.SAMPLES_TOPIC, name + ".samples",
                TrainerConfig.DEAD_LETTERS_TOPIC, name + ".dead-letters",
                TrainerConfig.MAX_STEPS, maxSteps,
                TrainerConfig.SAMPLE_EVERY_STEPS, 0,
                TrainerConfig.EVAL_EVERY_STEPS, 5,
                TrainerConfig.EVAL_BATCHES, 3,
                TrainerConfig.CHECKPOINT_EVERY_STEPS, 1,
                TrainerConfig.CHECKPOINT_KEEP, 1), produced.batches());
    }

    @Test
    void shouldEvaluateTheLastStepOnceMoreWhenStoppedBeforeMaxStepsAndSendItInThatStepsRecord() throws Exception {
        String metrics = "stop-eval-test.metrics";
        HeldOutRun run = heldOutRun("stop-eval-test", 16, 0);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Trainer.Recorder recorder = new Trainer.Recorder();
        long stoppedAt;
        Path finalCheckpoint;
        try (Trainer trainer = new Trainer(new TrainerConfig(run.properties()),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            trainer.addListener(recorder);
            trainer.start();
            // every batch: the trainer then waits for more, so that it stops at a known step
            assertTrue(trainer.awaitSteps(run.batches(), TIMEOUT), run.batches() + " steps within " + TIMEOUT);
            finalCheckpoint = trainer.stop().orElseThrow();  // as Ctrl-C does
            stoppedAt = trainer.step();
        }
        assertEquals(run.batches(), stoppedAt);
        assertTrue(stoppedAt % 5 != 0, "the stop is at a step the stream did not evaluate: " + stoppedAt);
        List<Evaluation> evaluations = recorder.evaluations();
        Evaluation last = evaluations.get(evaluations.size() - 1);
        assertEquals(stoppedAt, last.step(), "the step the trainer stopped at is evaluated: " + evaluations);
        assertEquals(stoppedAt / 5 + 1, evaluations.size(), "once: " + evaluations);
        String printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains(String.format("eval %6d | held-out loss", stoppedAt)), printed);
        assertTrue(printed.contains("best held-out loss"), printed);

        // the metrics topic: a record per step, then the stopped step's once more, completed with the evaluation
        List<ConsumerRecord<byte[], byte[]>> records = read(metrics, (int) stoppedAt + 1);
        ConsumerRecord<byte[], byte[]> sentAtStep = records.get((int) stoppedAt - 1);
        ConsumerRecord<byte[], byte[]> sentAtStop = records.get((int) stoppedAt);
        assertEquals(new String(sentAtStep.key(), StandardCharsets.UTF_8),
                new String(sentAtStop.key(), StandardCharsets.UTF_8), "the step's key: a reader by key keeps one");
        assertEquals(sentAtStep.timestamp(), sentAtStop.timestamp(), "and its time");
        TrainingMetrics atStep = AvroSerdes.trainingMetrics().deserializer().deserialize(metrics, sentAtStep.value());
        TrainingMetrics atStop = AvroSerdes.trainingMetrics().deserializer().deserialize(metrics, sentAtStop.value());
        assertEquals(null, atStep.getEvalLoss());
        assertEquals(last.loss(), atStop.getEvalLoss(), "the stop's evaluation");
        assertEquals(last.accuracy(), atStop.getEvalAccuracy());
        assertEquals(3L * B * T, atStop.getEvalTokens());
        assertEquals(atStep, TrainingMetrics.newBuilder(atStop).setEvalLoss(null).setEvalAccuracy(null)
                .setEvalPerplexity(null).setEvalTokens(null).build(), "the training figures of the step's record");
        assertTrue(printed.contains("the final evaluation of step " + stoppedAt + " sent to " + metrics), printed);
        assertTrue(Checkpoints.read(finalCheckpoint).metadata().keySet().stream()
                .noneMatch(key -> key.startsWith("emitted.")), "delivered: the final checkpoint carries none to resend");
    }

    @Test
    void shouldEvaluateOnTheHeldOutTopicAndKeepTheBestCheckpointApartFromTheRotation() throws Exception {
        int steps = 12;
        String metrics = "held-out-test.metrics";
        Map<String, Object> properties = heldOutRun("held-out-test", 40, steps).properties();
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Trainer.Recorder recorder = new Trainer.Recorder();
        try (Trainer trainer = new Trainer(new TrainerConfig(properties),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            trainer.addListener(recorder);
            trainer.start();
            assertTrue(trainer.awaitSteps(steps, TIMEOUT), steps + " steps within " + TIMEOUT);
            trainer.stop();
        }

        List<TrainingMetrics> records = values(metrics, steps, AvroSerdes.trainingMetrics().deserializer());
        List<Long> evaluated = records.stream().filter(r -> r.getEvalLoss() != null).map(TrainingMetrics::getStep)
                .toList();
        assertEquals(List.of(5L, 10L, 12L), evaluated, "every 5 steps and at max.steps");
        List<Evaluation> evaluations = recorder.evaluations();
        assertEquals(3, evaluations.size());
        for (Evaluation evaluation : evaluations) {
            TrainingMetrics record = records.get((int) evaluation.step() - 1);
            assertEquals(evaluation.loss(), record.getEvalLoss(), "the step's record carries the evaluation");
            assertEquals(evaluation.accuracy(), record.getEvalAccuracy());
            assertEquals(Math.exp(evaluation.loss()), record.getEvalPerplexity(), 1e-9);
            assertEquals(3L * B * T, record.getEvalTokens(), "the whole set from the first evaluation on");
        }
        assertTrue(evaluations.get(2).loss() < evaluations.get(0).loss(), "the held-out loss falls: " + evaluations);
        Evaluation best = evaluations.stream().min(java.util.Comparator.comparingDouble(Evaluation::loss))
                .orElseThrow();
        assertEquals(best.step(), evaluations.get(2).bestStep());
        Path checkpoints = dir.resolve("held-out-test").resolve("checkpoints");
        try (var files = Files.list(checkpoints.resolve("best"))) {
            assertEquals(List.of(checkpoints.resolve("best").resolve(String.format("step-%012d.safetensors",
                    best.step()))), files.toList(), "one best checkpoint, that of the lowest held-out loss");
        }
        try (var files = Files.list(checkpoints)) {
            assertEquals(1, files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).count(),
                    "the rotation keeps 1 checkpoint; the best one is apart");
        }
        Checkpoint bestCheckpoint = Checkpoints.read(checkpoints.resolve("best")
                .resolve(String.format("step-%012d.safetensors", best.step())));
        assertEquals(best.step(), bestCheckpoint.step());
        assertEquals(Double.toString(best.loss()), bestCheckpoint.metadata().get(ResidentModel.BEST_EVAL_LOSS_KEY));
        String printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("eval      5 | held-out loss"), printed);
        assertTrue(printed.contains("best checkpoint (held-out loss"), printed);
    }

    private static <V> List<V> values(String topic, int count, Deserializer<V> values) {
        return read(topic, count).stream().map(r -> values.deserialize(topic, r.value())).toList();
    }

    /** Reads partition 0 of {@code topic} from the beginning, without a group, until it holds {@code count} records. */
    private static List<ConsumerRecord<byte[], byte[]>> read(String topic, int count) {
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(
                Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()),
                new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (records.size() < count && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(100)).forEach(records::add);
            }
            assertEquals(count, records.size(), "records in " + topic);
            return records;
        }
    }

    private static String reason(ConsumerRecord<byte[], byte[]> letter) {
        String message = header(letter, "__streams.errors.message");
        return message.substring(0, message.indexOf(':'));
    }

    private static String header(ConsumerRecord<byte[], byte[]> record, String key) {
        return new String(record.headers().lastHeader(key).value(), StandardCharsets.UTF_8);
    }
}
