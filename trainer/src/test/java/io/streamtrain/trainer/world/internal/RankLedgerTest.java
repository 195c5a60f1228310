package io.streamtrain.trainer.world.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.trainer.RunLedger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

/** The world's merge of the ranks' ledgers, on the parts as rank 0 gathers them. */
class RankLedgerTest {
    private static final TopicPartition P0 = new TopicPartition("batches", 0);
    private static final TopicPartition P1 = new TopicPartition("batches", 1);
    private static final TopicPartition P2 = new TopicPartition("batches", 2);

    @Test
    void shouldWarnOnceNamingTheDatasetTheRanksAndThePartitionsWhenTwoRanksTrainOneDatasetName() {
        RankLedger rank0 = new RankLedger(RunLedger.of(Map.of()));
        RankLedger rank1 = new RankLedger(RunLedger.of(Map.of()));
        rank0.applied(P0, 0, "shared", 0, 10);
        rank0.applied(P2, 0, "shared", 2, 10);
        rank0.applied(P0, 1, "mine", 0, 10);
        rank1.applied(P1, 0, "shared", 1, 10);
        List<String> parts = List.of(rank0.part(List.of(P0, P2)), rank1.part(List.of(P1)));
        List<String> warnings = new ArrayList<>();

        RunLedger world = rank0.world("run", parts, Map.of(), warnings::add);

        assertEquals(1, warnings.size(), warnings.toString());
        String warning = warnings.get(0);
        for (String expected : List.of("'shared'", "rank 0 (batches-0,batches-2)", "rank 1 (batches-1)",
                "keeps the one of rank 1", "streamtrain produce", "shared@<partition>", "dataset name of their own")) {
            assertTrue(warning.contains(expected), "missing " + expected + " in: " + warning);
        }
        assertEquals(Map.of("shared", 1L, "mine", 0L), world.batchChecksums(), "the merge itself is unchanged");
        assertEquals(4, world.batchesTrained(), "four batches in all");
        assertTrue(world.other().keySet().stream().noneMatch(k -> k.startsWith("dataset.partitions.")),
                "the parts' dataset partitions stay out of the checkpoint: " + world.other());

        rank0.world("run", parts, Map.of(), warnings::add);
        assertEquals(1, warnings.size(), "once per dataset, not at every checkpoint: " + warnings);
    }

    @Test
    void shouldNotWarnWhenEachDatasetIsTrainedByOneRank() {
        RankLedger rank0 = new RankLedger(RunLedger.of(Map.of()));
        RankLedger rank1 = new RankLedger(RunLedger.of(Map.of()));
        rank0.applied(P0, 0, "docs@0", 0, 10);
        rank1.applied(P1, 0, "docs@1", 1, 10);
        List<String> warnings = new ArrayList<>();

        RunLedger world = rank0.world("run", List.of(rank0.part(List.of(P0)), rank1.part(List.of(P1))), Map.of(),
                warnings::add);

        assertEquals(List.of(), warnings);
        assertEquals(Map.of("docs@0", 0L, "docs@1", 1L), world.batchChecksums());
    }
}
