package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The run's ledger: one record to and from checkpoint metadata, old checkpoints included. */
class RunLedgerTest {

    /** Metadata as checkpoints written before the ledger existed hold it (keys of 38fa854). */
    private static Map<String, String> oldCheckpointMetadata() {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("run.id", "20261120-224500-3f2a");
        metadata.put("batches.trained", "12");
        metadata.put("tokens.trained", "768");
        metadata.put("created.at", "2026-11-20T22:45:00Z");
        metadata.put("kafka.offset.streamtrain.token-batches-0", "41");
        metadata.put("kafka.offset.streamtrain.token-batches-10", "7");
        metadata.put("batches.checksum.hamlet", "-7");
        metadata.put("emitted.metrics.12", "AAEC");
        metadata.put("emitted.samples.12/fixed-prompt", "AwQF");
        metadata.put("replay.target", "earliest");
        return metadata;
    }

    @Test
    void anOldCheckpointsMetadataReadsIntoEveryFieldOfTheLedger() {
        RunLedger ledger = RunLedger.of(oldCheckpointMetadata());
        assertEquals("20261120-224500-3f2a", ledger.runId());
        assertEquals(Optional.of(Instant.parse("2026-11-20T22:45:00Z")), ledger.createdAt());
        assertEquals(12, ledger.batchesTrained());
        assertEquals(768, ledger.tokensTrained());
        assertEquals(Map.of(new TopicPartition("streamtrain.token-batches", 0), 41L,
                new TopicPartition("streamtrain.token-batches", 10), 7L), ledger.offsets());
        assertEquals(Map.of("hamlet", -7L), ledger.batchChecksums());
        assertEquals(Map.of(), ledger.deadLetterPositions(), "an old checkpoint has none");
        assertEquals(Map.of("emitted.metrics.12", "AAEC", "emitted.samples.12/fixed-prompt", "AwQF"),
                ledger.resendBuffer());
        assertEquals(Map.of("replay.target", "earliest"), ledger.other());
    }

    @Test
    void theLedgerWritesBackTheEntriesItWasReadFrom() {
        Map<String, String> metadata = oldCheckpointMetadata();
        metadata.put("dead.letters.next.0", "3");
        assertEquals(metadata, RunLedger.of(metadata).toMetadata());
        RunLedger ledger = RunLedger.of(metadata);
        assertEquals(ledger, RunLedger.of(ledger.toMetadata()));
    }

    @Test
    void aCheckpointWithoutLedgerEntriesReadsAsAnEmptyLedger() {
        RunLedger ledger = RunLedger.of(Map.of());
        assertEquals("", ledger.runId());
        assertEquals(0, ledger.batchesTrained());
        assertEquals(Map.of(), ledger.offsets());
        assertEquals(Map.of("batches.trained", "0", "tokens.trained", "0"), ledger.toMetadata());
    }

    @Test
    void replacingTheOffsetsOfOneTopicKeepsThoseOfOthers() {
        RunLedger ledger = RunLedger.of(Map.of("kafka.offset.a-0", "5", "kafka.offset.b-1", "9"))
                .withOffsetsOf("a", Map.of(0, 2L, 3, 4L));
        assertEquals(Map.of(new TopicPartition("a", 0), 2L, new TopicPartition("a", 3), 4L,
                new TopicPartition("b", 1), 9L), ledger.offsets());
    }
}
