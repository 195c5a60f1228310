package io.streamtrain.monitor.internal;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.streamtrain.monitor.RunStore;
import io.streamtrain.monitor.RunStore.Changes;
import io.streamtrain.monitor.RunStore.ConsumerLag;
import io.streamtrain.monitor.RunStore.DeadLetter;
import io.streamtrain.monitor.RunStore.Stamped;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * {@link Changes} as the JSON the dashboard reads (the snapshot endpoint and each Server-Sent Event):
 * <pre>
 * {"epoch", "version", "complete", "runs": [id...],
 *  "metrics": [{"run","step","time","loss","accuracy","perplexity","learningRate","gradientNorm","tokens","tokensPerSecond",
 *               "waitMillis","computeMillis","emitMillis","backend","device",
 *               "evalLoss","evalAccuracy","evalPerplexity","evalTokens" (null when the step was not evaluated),
 *               "ranks","globalRows","allReduceMillis" (data parallelism; null with one model), "spike"}...],
 *  "samples": [{"run","step","time","prompt","generated","actual","temperature","topK"}...],
 *  "deadLetters": {"count", "recent": [{"time","partition","offset","sourceTopic","reason"}...]},
 *  "undecodable", "lag": null | {"groupId","measuredAt","totalLag","byTopic":{topic: lag},"problem"}}
 * </pre>
 * Numbers that are not finite are null (JSON has no NaN); times are epoch milliseconds.
 */
public final class SnapshotJson {
    private static final JsonFactory JSON = new JsonFactory();

    private SnapshotJson() {}

    public static byte[] encode(Changes changes) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(1024 + 320 * changes.metrics().size() + 512 * changes.samples().size());
        try (JsonGenerator json = JSON.createGenerator(bytes, JsonEncoding.UTF8)) {
            json.writeStartObject();
            json.writeStringField("epoch", changes.epoch());
            json.writeNumberField("version", changes.version());
            json.writeBooleanField("complete", changes.complete());
            json.writeArrayFieldStart("runs");
            for (String runId : changes.runIds()) {
                json.writeString(runId);
            }
            json.writeEndArray();
            json.writeArrayFieldStart("metrics");
            for (Stamped<TrainingMetrics> stamped : changes.metrics()) {
                writeMetrics(json, stamped.value());
            }
            json.writeEndArray();
            json.writeArrayFieldStart("samples");
            for (Stamped<TextSample> stamped : changes.samples()) {
                writeSample(json, stamped.value());
            }
            json.writeEndArray();
            json.writeObjectFieldStart("deadLetters");
            json.writeNumberField("count", changes.deadLetterCount());
            json.writeArrayFieldStart("recent");
            for (DeadLetter deadLetter : changes.recentDeadLetters()) {
                json.writeStartObject();
                json.writeNumberField("time", deadLetter.time().toEpochMilli());
                json.writeNumberField("partition", deadLetter.partition());
                json.writeNumberField("offset", deadLetter.offset());
                json.writeStringField("sourceTopic", deadLetter.sourceTopic());
                json.writeStringField("reason", deadLetter.reason());
                json.writeEndObject();
            }
            json.writeEndArray();
            json.writeEndObject();
            json.writeNumberField("undecodable", changes.undecodableCount());
            json.writeFieldName("lag");
            writeLag(json, changes.consumerLag().orElse(null));
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("encoding the dashboard snapshot (version " + changes.version() + ")", e);
        }
        return bytes.toByteArray();
    }

    /** JSON has no NaN or infinity: such a value is written as null. */
    public static void writeNumber(JsonGenerator json, String field, double value) throws IOException {
        if (Double.isFinite(value)) {
            json.writeNumberField(field, value);
        } else {
            json.writeNullField(field);
        }
    }

    /** An optional figure (a held-out evaluation's): null when absent or not finite. */
    public static void writeNullable(JsonGenerator json, String field, Double value) throws IOException {
        writeNumber(json, field, value == null ? Double.NaN : value);
    }

    /** An optional count (the held-out evaluation's tokens): null when absent. */
    public static void writeNullable(JsonGenerator json, String field, Long value) throws IOException {
        if (value == null) {
            json.writeNullField(field);
        } else {
            json.writeNumberField(field, value);
        }
    }

    /** An optional count (a data-parallel step's ranks or rows): null when absent. */
    public static void writeNullable(JsonGenerator json, String field, Integer value) throws IOException {
        writeNullable(json, field, value == null ? null : Long.valueOf(value));
    }

    private static void writeMetrics(JsonGenerator json, TrainingMetrics m) throws IOException {
        json.writeStartObject();
        json.writeStringField("run", m.getRunId());
        json.writeNumberField("step", m.getStep());
        json.writeNumberField("time", m.getTime().toEpochMilli());
        writeNumber(json, "loss", m.getLoss());
        writeNumber(json, "accuracy", m.getAccuracy());
        writeNumber(json, "perplexity", m.getPerplexity());
        writeNumber(json, "learningRate", m.getLearningRate());
        writeNumber(json, "gradientNorm", m.getGradientNorm());
        json.writeNumberField("tokens", m.getTokens());
        writeNumber(json, "tokensPerSecond", m.getTokensPerSecond());
        writeNumber(json, "waitMillis", m.getWaitMillis());
        writeNumber(json, "computeMillis", m.getComputeMillis());
        writeNumber(json, "emitMillis", m.getEmitMillis());
        json.writeStringField("backend", m.getBackend());
        json.writeStringField("device", m.getDevice());
        writeNullable(json, "evalLoss", m.getEvalLoss());
        writeNullable(json, "evalAccuracy", m.getEvalAccuracy());
        writeNullable(json, "evalPerplexity", m.getEvalPerplexity());
        writeNullable(json, "evalTokens", m.getEvalTokens());
        writeNullable(json, "ranks", m.getRanks());
        writeNullable(json, "globalRows", m.getGlobalRows());
        writeNullable(json, "allReduceMillis", m.getAllReduceMillis());
        json.writeStringField("spike", m.getSpike());
        json.writeEndObject();
    }

    private static void writeSample(JsonGenerator json, TextSample s) throws IOException {
        json.writeStartObject();
        json.writeStringField("run", s.getRunId());
        json.writeNumberField("step", s.getStep());
        json.writeNumberField("time", s.getTime().toEpochMilli());
        json.writeStringField("prompt", s.getPrompt());
        json.writeStringField("generated", s.getGenerated());
        json.writeStringField("actual", s.getActual());
        writeNumber(json, "temperature", s.getTemperature());
        json.writeNumberField("topK", s.getTopK());
        json.writeEndObject();
    }

    private static void writeLag(JsonGenerator json, ConsumerLag lag) throws IOException {
        if (lag == null) {
            json.writeNull();
            return;
        }
        json.writeStartObject();
        json.writeStringField("groupId", lag.groupId());
        json.writeNumberField("measuredAt", lag.measuredAt().toEpochMilli());
        json.writeNumberField("totalLag", lag.totalLag());
        json.writeObjectFieldStart("byTopic");
        for (Map.Entry<String, Long> entry : lag.lagByTopic().entrySet()) {
            json.writeNumberField(entry.getKey(), entry.getValue());
        }
        json.writeEndObject();
        json.writeStringField("problem", lag.problem());
        json.writeEndObject();
    }
}
