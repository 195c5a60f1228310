package io.streamtrain.trainer.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.testing.NumberedBatches;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The records a checkpoint carries for a restart to send again: the window, the metadata round trip, the keys. */
class EmittedRecordsTest {
    private static final String RUN = "run-a";

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);

    @Test
    void shouldKeepTheRecordsOfTheLastStepsAndRestoreThemWithTheirKeysAndBytes() {
        EmittedRecords records = new EmittedRecords();
        int lastStep = EmittedRecords.STEPS_KEPT + 44;
        for (long step = 1; step <= lastStep; step++) {
            add(records, Topics.runStepKey(RUN, step), metrics(RUN, step));
        }
        String sampleKey = Topics.runStepKey(RUN, lastStep);
        TextSample sample = sample(RUN, lastStep);
        byte[] sampleBytes = AvroSerdes.textSample().serializer().serialize(null, sample);
        records.add(sampleKey, sample, sampleBytes);
        records.add(sampleKey + "/fixed-prompt", sample, sampleBytes);
        Map<String, String> metadata = new LinkedHashMap<>();
        records.writeTo(metadata);

        assertEquals(EmittedRecords.STEPS_KEPT + 2, metadata.size());
        assertTrue(metadata.containsKey("emitted.metrics." + lastStep), metadata.keySet().toString());
        assertTrue(metadata.containsKey("emitted.samples." + lastStep + "/fixed-prompt"), metadata.keySet().toString());
        List<EmittedRecords.Emitted> restored = EmittedRecords.of(metadata, RUN, log).records();
        assertEquals(45, restored.get(0).step(), "the oldest step kept is the last minus STEPS_KEPT plus one");
        assertEquals(Topics.runStepKey(RUN, 45), restored.get(0).key());
        assertArrayEquals(AvroSerdes.trainingMetrics().serializer().serialize(null, metrics(RUN, 45)),
                restored.get(0).value());
        assertEquals(Instant.ofEpochMilli(1_700_000_045_000L), restored.get(0).time());
        assertEquals(List.of(sampleKey, sampleKey + "/fixed-prompt"), restored.stream()
                .filter(emitted -> !emitted.metrics()).map(EmittedRecords.Emitted::key).sorted().toList());
    }

    @Test
    void shouldLeaveOutTheRecordsOfAnotherRun() {
        EmittedRecords parent = new EmittedRecords();
        add(parent, Topics.runStepKey("parent", 3), metrics("parent", 3));
        Map<String, String> metadata = new LinkedHashMap<>();
        parent.writeTo(metadata);
        assertTrue(EmittedRecords.of(metadata, "child", log).isEmpty(), "a new run does not re-send its parent's records");
        assertEquals(1, EmittedRecords.of(metadata, "parent", log).records().size());
    }

    @Test
    void shouldLeaveOutAndNameAMetadataEntryThatDoesNotDecode() {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("emitted.metrics.7", "bm90IGF2cm8=");
        EmittedRecords good = new EmittedRecords();
        add(good, Topics.runStepKey(RUN, 8), metrics(RUN, 8));
        good.writeTo(metadata);
        EmittedRecords restored = EmittedRecords.of(metadata, RUN, log);
        assertEquals(List.of(8L), restored.records().stream().map(EmittedRecords.Emitted::step).toList());
        String logged = out.toString(StandardCharsets.UTF_8);
        assertTrue(logged.contains("emitted.metrics.7") && logged.contains("not sent again"), logged);
    }

    @Test
    void shouldCompleteTheStepsRecordWithAStopsEvaluationInItsPlaceForTheCheckpointToCarryUntilDelivered() {
        EmittedRecords records = new EmittedRecords();
        add(records, Topics.runStepKey(RUN, 6), metrics(RUN, 6));
        add(records, Topics.runStepKey(RUN, 7), metrics(RUN, 7));
        records.clear(); // the stream's producer delivered them, then the trainer stopped and evaluated step 7
        assertTrue(records.completeWith(evaluation(6)).isEmpty(), "step 6 is not the newest step: nothing to complete");

        EmittedRecords.Emitted completed = records.completeWith(evaluation(7)).orElseThrow();
        assertEquals(Topics.runStepKey(RUN, 7), completed.key(), "the step's key: it replaces the first by key");
        assertEquals(Instant.ofEpochMilli(1_700_000_007_000L), completed.time(), "and its time");
        TrainingMetrics record = AvroSerdes.trainingMetrics().deserializer().deserialize(null, completed.value());
        assertEquals(2.5, record.getEvalLoss());
        assertEquals(512L, record.getEvalTokens());
        TrainingMetrics.Builder first = TrainingMetrics.newBuilder(record).setEvalLoss(null).setEvalAccuracy(null)
                .setEvalPerplexity(null).setEvalTokens(null);
        assertEquals(metrics(RUN, 7), first.build(), "the training figures of the record sent at the step");
        assertTrue(records.completeWith(evaluation(7)).isEmpty(), "completed once");

        Map<String, String> metadata = new LinkedHashMap<>();
        records.writeTo(metadata);
        assertEquals(List.of("emitted.metrics.7"), List.copyOf(metadata.keySet()),
                "until delivered, the checkpoint carries the completed record for a restart to send");
        assertArrayEquals(completed.value(), EmittedRecords.of(metadata, RUN, log).records().get(0).value());
    }

    /** A held-out evaluation of {@code step}: loss 2.5 over 512 tokens. */
    private static Evaluation evaluation(long step) {
        return new Evaluation(step, 2.5, 0.25, 2, 512, 2.5, step, true, false);
    }

    /** As the training step keeps a record: with the bytes it sent. */
    private static void add(EmittedRecords records, String key, TrainingMetrics metrics) {
        records.add(key, metrics, AvroSerdes.trainingMetrics().serializer().serialize(null, metrics));
    }

    private static TrainingMetrics metrics(String runId, long step) {
        return NumberedBatches.metrics(runId, step);
    }

    private static TextSample sample(String runId, long step) {
        return TextSample.newBuilder()
                .setRunId(runId).setStep(step).setTime(Instant.ofEpochMilli(1_700_000_000_000L + step * 1000))
                .setPrompt("To be").setGenerated(", or not").setActual(", or not to be")
                .setTemperature(1).setTopK(40).setMaxNewTokens(8).setSeed(step)
                .build();
    }
}
