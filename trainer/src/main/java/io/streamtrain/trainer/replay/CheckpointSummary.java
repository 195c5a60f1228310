package io.streamtrain.trainer.replay;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.trainer.RunLedger;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code streamtrain checkpoint show PATH} prints: a checkpoint's step, tokens and batches trained, the batch
 * checksum of every dataset, the last handled offset of every input partition, tokenizer, model config, creation
 * time and run id, as one JSON object.
 * Reading the file verifies it whole (CRC of the data), so a summary is also a check that the file is usable.
 *
 * @param path           the file
 * @param step           optimizer steps applied
 * @param tokensTrained  tokens of the applied steps (metadata {@code tokens.trained}; 0 when absent)
 * @param batchesTrained batches applied (metadata {@code batches.trained}; 0 when absent)
 * @param batchChecksums by dataset, the order-sensitive hash of the sequence numbers of its applied batches
 *                       (metadata {@code batches.checksum.<dataset>})
 * @param offsets        last handled offset by {@code <topic>-<partition>}
 * @param tokenizer      the tokenizer the model was trained with
 * @param config         the model's shape
 * @param createdAt      metadata {@code created.at}, else the file's modification time
 * @param runId          metadata {@code run.id}, empty when absent
 * @param emittedRecords metrics and sample records kept to be re-sent after a crash (metadata {@code emitted.*},
 *                       counted here, not printed)
 * @param otherMetadata  every other metadata entry (replay history), in file order
 */
public record CheckpointSummary(Path path, long step, long tokensTrained, long batchesTrained,
                                Map<String, Long> batchChecksums, Map<String, Long> offsets,
                                TokenizerIdentity tokenizer, GptConfig config, Instant createdAt, String runId,
                                int emittedRecords, Map<String, String> otherMetadata) {

    /** Reads and verifies {@code path}; a damaged file raises the model's CheckpointException with what is wrong. */
    public static CheckpointSummary read(Path path) throws IOException {
        return of(path, Checkpoints.read(path), Files.getLastModifiedTime(path).toInstant());
    }

    /** The summary of an already read checkpoint; {@code fileTime} stands in when it has no creation time. */
    public static CheckpointSummary of(Path path, Checkpoint checkpoint, Instant fileTime) {
        RunLedger ledger = RunLedger.of(checkpoint.metadata());
        Map<String, Long> offsets = new TreeMap<>();
        ledger.offsets().forEach((partition, offset) -> offsets.put(partition.topic() + "-" + partition.partition(),
                offset));
        return new CheckpointSummary(path, checkpoint.step(), ledger.tokensTrained(), ledger.batchesTrained(),
                ledger.batchChecksums(), offsets, checkpoint.tokenizer(), checkpoint.config(),
                ledger.createdAt().orElse(fileTime), ledger.runId(), ledger.resendBuffer().size(), ledger.other());
    }

    /**
     * The summary as one JSON object's fields, in a fixed order, nested maps for offsets, tokenizer, config and other
     * metadata; values are strings and numbers only, ready for any JSON writer:
     * {@code {"path":..., "step":200, "tokens_trained":..., "batches_trained":..., "batch_checksums":{"<dataset>":...},
     * "offsets":{"<topic>-<p>":41}, "tokenizer":{...}, "config":{...}, "created_at":"2026-11-20T22:00:00Z",
     * "run_id":..., "emitted_records":2, "metadata":{...}}}.
     */
    public Map<String, Object> toJsonFields() {
        Map<String, Object> tokenizerFields = new LinkedHashMap<>();
        tokenizerFields.put("name", tokenizer.name());
        tokenizerFields.put("vocabulary_size", tokenizer.vocabularySize());
        tokenizerFields.put("fingerprint", tokenizer.fingerprint());
        Map<String, Object> configFields = new LinkedHashMap<>();
        configFields.put("vocabulary_size", config.vocabularySize());
        configFields.put("padded_vocabulary_size", config.paddedVocabularySize());
        configFields.put("context_length", config.contextLength());
        configFields.put("channels", config.channels());
        configFields.put("layers", config.layers());
        configFields.put("heads", config.heads());
        configFields.put("parameters", config.parameterCount());
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("path", path.toString());
        fields.put("step", step);
        fields.put("tokens_trained", tokensTrained);
        fields.put("batches_trained", batchesTrained);
        fields.put("batch_checksums", new LinkedHashMap<>(batchChecksums));
        fields.put("offsets", new LinkedHashMap<>(offsets));
        fields.put("tokenizer", tokenizerFields);
        fields.put("config", configFields);
        fields.put("created_at", createdAt.toString());
        fields.put("run_id", runId);
        fields.put("emitted_records", emittedRecords);
        fields.put("metadata", new LinkedHashMap<>(otherMetadata));
        return fields;
    }
}
