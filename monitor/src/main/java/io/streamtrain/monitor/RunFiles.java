package io.streamtrain.monitor;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.streamtrain.monitor.internal.AtomicFiles;
import io.streamtrain.monitor.internal.SnapshotJson;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;

/**
 * The run directory's JSON files, written from records, each replaced atomically (temporary file, then rename) so that
 * a reader never sees half a file:
 * <ul>
 * <li>{@value #METRICS_HISTORY}: a JSON array, one object per step:
 *     {@code run_id, step, time (ISO-8601), loss, accuracy, perplexity, learning_rate, gradient_norm, tokens_per_s,
 *     eval_loss, eval_accuracy, eval_perplexity, ranks, global_rows, all_reduce_ms, spike} (the held-out figures null on
 *     steps not evaluated, the data-parallel ones with one model; a value that is not finite is written as null);</li>
 * <li>{@value #TEXT_SAMPLES}: a JSON array of {@code run_id, step, time, prompt, generated, actual}.</li>
 * </ul>
 * Records are written in the order given; {@link #write(Path, RunStore)} writes a store's (deduplicated, by run then step).
 */
public final class RunFiles {
    public static final String METRICS_HISTORY = "metrics_history.json";
    public static final String TEXT_SAMPLES = "text_samples.json";

    private static final JsonFactory JSON = new JsonFactory();

    private RunFiles() {}

    /** Writes both files of the store's runs into {@code runDirectory} (created when missing). */
    public static void write(Path runDirectory, RunStore store) throws IOException {
        writeMetricsHistory(runDirectory, store.allMetrics());
        writeTextSamples(runDirectory, store.allSamples());
    }

    /** Replaces {@value #METRICS_HISTORY} in {@code runDirectory} with these records. */
    public static void writeMetricsHistory(Path runDirectory, Collection<TrainingMetrics> metrics) throws IOException {
        writeArray(runDirectory.resolve(METRICS_HISTORY), metrics, (json, m) -> {
            json.writeStringField("run_id", m.getRunId());
            json.writeNumberField("step", m.getStep());
            json.writeStringField("time", m.getTime().toString());
            SnapshotJson.writeNumber(json, "loss", m.getLoss());
            SnapshotJson.writeNumber(json, "accuracy", m.getAccuracy());
            SnapshotJson.writeNumber(json, "perplexity", m.getPerplexity());
            SnapshotJson.writeNumber(json, "learning_rate", m.getLearningRate());
            SnapshotJson.writeNumber(json, "gradient_norm", m.getGradientNorm());
            SnapshotJson.writeNumber(json, "tokens_per_s", m.getTokensPerSecond());
            SnapshotJson.writeNullable(json, "eval_loss", m.getEvalLoss());
            SnapshotJson.writeNullable(json, "eval_accuracy", m.getEvalAccuracy());
            SnapshotJson.writeNullable(json, "eval_perplexity", m.getEvalPerplexity());
            SnapshotJson.writeNullable(json, "ranks", m.getRanks());
            SnapshotJson.writeNullable(json, "global_rows", m.getGlobalRows());
            SnapshotJson.writeNullable(json, "all_reduce_ms", m.getAllReduceMillis());
            json.writeStringField("spike", m.getSpike());
        });
    }

    /** Replaces {@value #TEXT_SAMPLES} in {@code runDirectory} with these records. */
    public static void writeTextSamples(Path runDirectory, Collection<TextSample> samples) throws IOException {
        writeArray(runDirectory.resolve(TEXT_SAMPLES), samples, (json, s) -> {
            json.writeStringField("run_id", s.getRunId());
            json.writeNumberField("step", s.getStep());
            json.writeStringField("time", s.getTime().toString());
            json.writeStringField("prompt", s.getPrompt());
            json.writeStringField("generated", s.getGenerated());
            json.writeStringField("actual", s.getActual());
        });
    }

    /** The fields of one record, written into its JSON object. */
    @FunctionalInterface
    private interface Fields<T> {
        void write(JsonGenerator json, T record) throws IOException;
    }

    /** Replaces {@code file} with a pretty-printed JSON array holding one object per record. */
    private static <T> void writeArray(Path file, Collection<T> records, Fields<T> fields) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(256 + 320 * records.size());
        try (JsonGenerator json = JSON.createGenerator(bytes, JsonEncoding.UTF8)) {
            json.useDefaultPrettyPrinter();
            json.writeStartArray();
            for (T record : records) {
                json.writeStartObject();
                fields.write(json, record);
                json.writeEndObject();
            }
            json.writeEndArray();
        }
        AtomicFiles.write(file, bytes.toByteArray());
    }
}
