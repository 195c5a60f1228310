package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoints;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.internal.ConsoleSummary;
import io.streamtrain.trainer.internal.EmittedRecords;
import io.streamtrain.trainer.internal.SpikeWatch;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The trainer's topology on TopologyTestDriver with the real CPU tiny model: steps, samples, dead letters, replays. */
class TrainerTopologyTest {
    private static final int B = 2;
    private static final int T = 32;

    @TempDir
    Path dir;

    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private final TestBatches batches = new TestBatches(B, T);
    private ResidentModel model;
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> input;
    private TestOutputTopic<String, TrainingMetrics> metrics;
    private TestOutputTopic<String, TextSample> samples;
    private MockProducer<byte[], byte[]> deadLetterProducer;
    private int deadLettersRead;
    private TrainerListener listener = new TrainerListener() {};

    private void start(Object... overrides) throws IOException {
        TrainerConfig config = new TrainerConfig(TestBatches.config(dir, B, T, overrides));
        model = ResidentModel.open(config, new PrintStream(log, true, StandardCharsets.UTF_8));
        // Kafka's own in-memory producer stands in for the broker that TopologyTestDriver does not have; the real
        // path is proven on a broker by DeadLettersKafkaTest.
        deadLetterProducer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        deadLettersRead = 0;
        driver = new TopologyTestDriver(TrainerTopology.build(config, model, listener,
                new DeadLetters(deadLetterProducer, Topics.DEAD_LETTERS, 1 << 20, config.runId())),
                TrainerTopology.streamsProperties(config, config.runId()));
        input = driver.createInputTopic(Topics.TOKEN_BATCHES, new ByteArraySerializer(), new ByteArraySerializer());
        metrics = driver.createOutputTopic(Topics.METRICS, Serdes.String().deserializer(),
                AvroSerdes.trainingMetrics().deserializer());
        samples = driver.createOutputTopic(Topics.SAMPLES, Serdes.String().deserializer(),
                AvroSerdes.textSample().deserializer());
    }

    /** The dead letters sent since the last call. */
    private List<ProducerRecord<byte[], byte[]>> deadLetters() {
        List<ProducerRecord<byte[], byte[]>> sent = deadLetterProducer.history();
        List<ProducerRecord<byte[], byte[]>> fresh = sent.subList(deadLettersRead, sent.size());
        deadLettersRead = sent.size();
        return fresh;
    }

    private void stop() {
        if (driver != null) {
            driver.close();
            driver = null;
        }
        if (model != null) {
            model.close();
            model = null;
        }
    }

    @AfterEach
    void tearDown() {
        stop();
    }

    private void pipe(TokenBatch batch) {
        input.pipeInput("hamlet".getBytes(StandardCharsets.UTF_8), TestBatches.serialize(batch));
    }

    /** A batch of valid ids, but nothing like the English the model has seen: a loss spike. */
    private void pipeNoise() {
        int[] noise = new int[B * (T + 1)];
        for (int i = 0; i < noise.length; i++) {
            noise[i] = (i * 7919 + 13) % 257;
        }
        pipe(batches.batch(noise, B, T));
    }

    @Test
    void shouldTrainOneStepAndPublishOneMetricsRecordPerBatch() throws IOException {
        start(TrainerConfig.SAMPLE_EVERY_STEPS, 100);
        for (int i = 0; i < 3; i++) {
            pipe(batches.next());
        }

        List<TestRecord<String, TrainingMetrics>> records = metrics.readRecordsToList();
        assertEquals(3, records.size());
        for (int i = 0; i < 3; i++) {
            TrainingMetrics step = records.get(i).value();
            assertEquals(Topics.runStepKey("test-run", i + 1), records.get(i).key());
            assertEquals(i + 1, step.getStep());
            assertEquals("test-run", step.getRunId());
            assertTrue(Double.isFinite(step.getLoss()) && step.getLoss() > 0, "loss " + step.getLoss());
            assertEquals(Math.exp(step.getLoss()), step.getPerplexity(), 1e-9);
            assertEquals((long) B * T, step.getTokens());
            assertTrue(step.getTokensPerSecond() > 0);
            assertEquals(TestBatches.BACKEND, step.getBackend());
            assertEquals(Topics.TOKEN_BATCHES, step.getSourceTopic());
            assertEquals(0, step.getSourcePartition());
            assertEquals(i, step.getSourceOffset());
        }
        assertTrue(samples.isEmpty(), "no sample before step 100");
        assertTrue(deadLetters().isEmpty());
        assertEquals(3, model.step());
        assertEquals(3, model.meters().steps());
        assertEquals(3L * B * T, model.tokensTrained());
    }

    @Test
    void shouldPublishSampleOfTheBatchAndOfTheFixedPromptEveryNSteps() throws IOException {
        start(TrainerConfig.SAMPLE_EVERY_STEPS, 2, TrainerConfig.SAMPLE_FIXED_PROMPT, "To be");
        TokenBatch first = batches.next();
        TokenBatch second = batches.next();
        pipe(first);
        assertTrue(samples.isEmpty(), "no sample at step 1");
        pipe(second);

        List<TestRecord<String, TextSample>> records = samples.readRecordsToList();
        assertEquals(2, records.size());
        TextSample batchSample = records.get(0).value();
        assertEquals(Topics.runStepKey("test-run", 2), records.get(0).key());
        assertEquals(2, batchSample.getStep());
        int[] ids = TokenIds.decode(second.getTokens());
        String rowZero = new String(toBytes(ids, 0, T + 1), StandardCharsets.UTF_8);
        assertEquals(rowZero.substring(0, 10), batchSample.getPrompt());
        assertEquals(rowZero.substring(10, 18), batchSample.getActual());
        assertEquals(8, batchSample.getMaxNewTokens());
        assertTrue(!batchSample.getGenerated().isEmpty());

        TextSample fixed = records.get(1).value();
        assertEquals(Topics.runStepKey("test-run", 2) + "/fixed-prompt", records.get(1).key());
        assertEquals("To be", fixed.getPrompt());
        assertEquals("", fixed.getActual());
    }

    private static byte[] toBytes(int[] ids, int offset, int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) ids[offset + i];
        }
        return bytes;
    }

    static List<TestBatches.BadRecord> badRecords() {
        return TestBatches.badRecords(B, T);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badRecords")
    void shouldSendBadBatchToDeadLetterTopicWithItsReasonAndTrainTheNextGoodBatch(TestBatches.BadRecord record)
            throws IOException {
        start();
        String reason = record.reason();
        byte[] bad = record.bytes();
        input.pipeInput("hamlet".getBytes(StandardCharsets.UTF_8), bad);
        pipe(batches.next());

        List<ProducerRecord<byte[], byte[]>> letters = deadLetters();
        assertEquals(1, letters.size());
        ProducerRecord<byte[], byte[]> letter = letters.get(0);
        assertArrayEquals(bad, letter.value(), "the dead letter holds the original bytes");
        assertArrayEquals("hamlet".getBytes(StandardCharsets.UTF_8), letter.key());
        Headers headers = letter.headers();
        String message = header(headers, "__streams.errors.message");
        assertTrue(message.startsWith(reason + ": "), message);
        assertEquals(Topics.TOKEN_BATCHES, header(headers, "__streams.errors.topic"));
        assertEquals("0", header(headers, "__streams.errors.partition"));
        assertEquals("0", header(headers, "__streams.errors.offset"));

        List<TrainingMetrics> steps = metrics.readValuesToList();
        assertEquals(1, steps.size(), "the next good batch still trains");
        assertEquals(1, steps.get(0).getStep());
        assertEquals(1, steps.get(0).getSourceOffset());
        assertEquals(1, model.meters().deadLetters());
        assertEquals(1, model.meters().deadLetters(reasonOf(reason)));
    }

    @Test
    void shouldNameTheRecordOfAnIdOutsideTheVocabularyWithItsRowAndPosition() throws IOException {
        start();
        pipe(batches.next()); // offset 0
        byte[] outOfRange = TestBatches.badRecords(B, T).stream()
                .filter(record -> record.reason().equals(DeadLetterReason.ID_OUT_OF_RANGE.code()))
                .findFirst().orElseThrow().bytes();
        input.pipeInput("hamlet".getBytes(StandardCharsets.UTF_8), outOfRange); // offset 1

        List<ProducerRecord<byte[], byte[]>> letters = deadLetters();
        assertEquals(1, letters.size());
        String message = header(letters.get(0).headers(), "__streams.errors.message");
        assertTrue(message.contains("the record at " + Topics.TOKEN_BATCHES + "-0@1"), message);
        assertTrue(message.contains("holds id 257 at row 0, position 5, outside [0, V=257)"), message);
    }

    @Test
    void shouldKeepForTheResendTheSameBytesItSentOnTheMetricsTopic() throws IOException {
        start();
        pipe(batches.next());
        pipe(batches.next());
        TestOutputTopic<String, byte[]> raw = driver.createOutputTopic(Topics.METRICS,
                Serdes.String().deserializer(), Serdes.ByteArray().deserializer());
        List<TestRecord<String, byte[]>> sent = raw.readRecordsToList();

        Map<String, String> kept = Checkpoints.read(model.checkpoint()).metadata();
        assertEquals(2, sent.size());
        for (int step = 1; step <= 2; step++) {
            assertArrayEquals(sent.get(step - 1).value(),
                    Base64.getDecoder().decode(kept.get(EmittedRecords.METRICS_KEY_PREFIX + step)),
                    "step " + step);
        }
    }

    private static DeadLetterReason reasonOf(String code) {
        return Stream.of(DeadLetterReason.values()).filter(r -> r.code().equals(code)).findFirst().orElseThrow();
    }

    private static String header(Headers headers, String key) {
        Header header = headers.lastHeader(key);
        assertTrue(header != null, "header " + key + " is missing");
        return new String(header.value(), StandardCharsets.UTF_8);
    }

    @Test
    void shouldSendALossSpikeToTheDeadLetterTopicWithoutTrainingIt() throws IOException {
        start(TrainerConfig.LOSS_SPIKE_RATIO, 1.3, TrainerConfig.LOSS_SPIKE_WARMUP_STEPS, 8,
                TrainerConfig.LEARNING_RATE, 3e-3);
        for (int i = 0; i < 20; i++) {
            pipe(batches.next());
        }
        pipeNoise();                        // offset 20
        pipe(batches.next());               // offset 21

        List<ProducerRecord<byte[], byte[]>> letters = deadLetters();
        assertEquals(1, letters.size());
        String message = header(letters.get(0).headers(), "__streams.errors.message");
        assertTrue(message.startsWith("loss-spike: "), message);
        assertEquals("20", header(letters.get(0).headers(), "__streams.errors.offset"));
        List<TrainingMetrics> steps = metrics.readValuesToList();
        assertEquals(21, steps.size(), "every other batch trained");
        assertEquals(21, steps.get(20).getSourceOffset());
        assertEquals(21, model.step());
        assertEquals(1, model.meters().deadLetters(DeadLetterReason.LOSS_SPIKE));
    }

    @Test
    void shouldTellTheDeadLettersOfATopologyToItsOwnListenerWhenAnotherIsBuiltOnTheSameModel() throws IOException {
        start();
        TrainerConfig config = new TrainerConfig(TestBatches.config(dir, B, T));
        List<String> heardByFirst = new ArrayList<>();
        List<String> heardBySecond = new ArrayList<>();
        DeadLetters letters = new DeadLetters(deadLetterProducer, Topics.DEAD_LETTERS, 1 << 20, config.runId());
        TrainerListener first = new TrainerListener() {
            @Override
            public void onDeadLetter(DeadLetterReason reason, String message) {
                heardByFirst.add(reason.code());
            }
        };
        TrainerListener second = new TrainerListener() {
            @Override
            public void onDeadLetter(DeadLetterReason reason, String message) {
                heardBySecond.add(reason.code());
            }
        };
        driver.close();
        driver = new TopologyTestDriver(TrainerTopology.build(config, model, first, letters),
                TrainerTopology.streamsProperties(config, config.runId()));
        TrainerTopology.build(config, model, second, letters); // built, never run: it must change nothing shared
        driver.createInputTopic(Topics.TOKEN_BATCHES, new ByteArraySerializer(), new ByteArraySerializer())
                .pipeInput(new byte[0], "garbage".getBytes(StandardCharsets.UTF_8));

        assertEquals(List.of(DeadLetterReason.NOT_A_TOKEN_BATCH.code()), heardByFirst);
        assertEquals(List.of(), heardBySecond);
    }

    @Test
    void shouldReportALossSpikeOnItsMetricsRecordTheConsoleAndTheSpikesCounterAndTrainItAllTheSame() throws IOException {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        listener = new ConsoleSummary(new PrintStream(console, true, StandardCharsets.UTF_8), 0);
        start(TrainerConfig.LEARNING_RATE, 3e-3);
        for (int i = 0; i < 20; i++) {
            pipe(batches.next());
        }
        pipeNoise();                        // step 21
        pipe(batches.next());               // step 22

        List<TrainingMetrics> steps = metrics.readValuesToList();
        assertEquals(22, steps.size(), "a reported spike is trained like any step");
        for (TrainingMetrics step : steps.subList(0, 20)) {
            assertTrue(step.getSpike() == null || !step.getSpike().startsWith("loss"), "no loss spike: " + step);
        }
        String spike = steps.get(20).getSpike();
        assertNotNull(spike, "step 21's loss is far above the average: " + steps.get(20));
        assertTrue(spike.matches("loss \\d+\\.\\d{4} is \\d+\\.\\dx its recent average \\d+\\.\\d{4}.*"), spike);
        String printed = console.toString(StandardCharsets.UTF_8);
        assertTrue(printed.contains("warning: spike at step 21: " + spike), printed);
        assertEquals(1, model.meters().spikes(SpikeWatch.LOSS));
    }

    @Test
    void shouldSkipRecordsAtOrBelowTheCheckpointedOffsetAfterRestore() throws IOException {
        start();
        pipe(batches.next());                                        // offset 0: step 1
        input.pipeInput(new byte[0], "garbage".getBytes(StandardCharsets.UTF_8)); // offset 1: dead letter
        pipe(batches.next());                                        // offset 2: step 2
        Path checkpoint = model.checkpoint();
        assertEquals(2, metrics.readRecordsToList().size());
        assertEquals(1, deadLetters().size());
        stop();

        start();  // restores the checkpoint: partition 0 handled up to offset 2
        assertEquals(checkpoint, model.restoredFrom().orElseThrow());
        assertEquals(2, model.step());
        for (int i = 0; i < 4; i++) {  // the driver numbers offsets from 0 again: 0, 1, 2 are replays
            pipe(batches.next());
        }
        List<TrainingMetrics> steps = metrics.readValuesToList();
        assertEquals(1, steps.size());
        assertEquals(3, steps.get(0).getStep());
        assertEquals(3, steps.get(0).getSourceOffset());
        assertEquals(3, model.meters().skippedReplays());
        assertTrue(deadLetters().isEmpty(), "a replayed dead letter is not sent again");
        assertEquals(3, model.batchesTrained());
    }
}
