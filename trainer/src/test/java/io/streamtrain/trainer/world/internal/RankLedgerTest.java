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
                "is the one of rank 1", "partition.checksum.<topic>-<p>/shared", "streamtrain produce", "shared@<partition>", "dataset name of their own")) {
            assertTrue(warning.contains(expected), "missing " + expected + " in: " + warning);
        }
        assertEquals(Map.of("shared", 1L, "mine", 0L), world.batchChecksums(), "the merge itself is unchanged");
        assertEquals(4, world.batchesTrained(), "four batches in all");
        assertTrue(world.other().keySet().stream().noneMatch(k -> k.startsWith("dataset.partitions.")),
                "the parts' dataset partitions stay out of the checkpoint: " + world.other());
        assertEquals(Map.of(key(P0, "shared"), "0", key(P2, "shared"), "2", key(P1, "shared"), "1", key(P0, "mine"), "0"),
                world.other(), "one checksum per (dataset, partition)");

        rank0.world("run", parts, Map.of(), warnings::add);
        assertEquals(1, warnings.size(), "once per dataset, not at every checkpoint: " + warnings);
    }

    @Test
    void shouldStillChecksumEveryBatchOfADatasetSpreadOverPartitionsWhenAWorldOfTwoRestartsAsAWorldOfOne() {
        List<TopicPartition> all = List.of(P0, P1, P2);
        RankLedger rank0 = new RankLedger(RunLedger.of(Map.of()));
        RankLedger rank1 = new RankLedger(RunLedger.of(Map.of()));
        for (long sequence = 0; sequence < 2; sequence++) { // the first half: P0 and P2 on rank 0, P1 on rank 1
            rank0.applied(P0, sequence, "shared", 10 + sequence, 10);
            rank1.applied(P1, sequence, "shared", 20 + sequence, 10);
            rank0.applied(P2, sequence, "shared", 30 + sequence, 10);
        }
        RunLedger checkpoint = rank0.world("run", List.of(rank0.part(List.of(P0, P2)), rank1.part(List.of(P1))),
                Map.of(), warning -> { });

        RankLedger alone = new RankLedger(RunLedger.of(checkpoint.toMetadata())); // a world of one: every partition
        for (long sequence = 2; sequence < 4; sequence++) {
            alone.applied(P0, sequence, "shared", 10 + sequence, 10);
            alone.applied(P1, sequence, "shared", 20 + sequence, 10);
            alone.applied(P2, sequence, "shared", 30 + sequence, 10);
        }
        RunLedger last = RunLedger.of(alone.world("run", List.of(alone.part(all)), Map.of(), warning -> { }).toMetadata());

        assertEquals(Map.of(key(P0, "shared"), checksum(10, 11, 12, 13), key(P1, "shared"), checksum(20, 21, 22, 23),
                key(P2, "shared"), checksum(30, 31, 32, 33)), last.other(), "every batch once, in order, per partition");
        assertEquals(12, last.batchesTrained());
    }

    @Test
    void shouldSeedAPartitionsChecksumWithTheDatasetChecksumOfACheckpointWrittenBeforePartitionChecksums() {
        long before = Long.parseLong(checksum(0, 1)); // docs@0, batches 0 and 1, from P0 only: produce's shard
        RankLedger rank = new RankLedger(RunLedger.of(Map.of(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + "docs@0",
                Long.toString(before), RunLedger.offsetKey(P0), "1", RunLedger.BATCHES_TRAINED_KEY, "2")));
        rank.applied(P0, 2, "docs@0", 2, 10);
        rank.applied(P0, 3, "docs@0", 3, 10);
        rank.applied(P1, 0, "new", 0, 10);

        RunLedger world = rank.world("run", List.of(rank.part(List.of(P0, P1))), Map.of(), warning -> { });

        assertEquals(checksum(0, 1, 2, 3), world.other().get(key(P0, "docs@0")), "continued from the old checksum");
        assertEquals(checksum(0), world.other().get(key(P1, "new")));
        assertEquals(Long.parseLong(checksum(0, 1, 2, 3)), world.batchChecksums().get("docs@0"), "and the dataset's");
    }

    private static String key(TopicPartition partition, String dataset) {
        return RankLedger.partitionChecksumKey(partition, dataset);
    }

    /** The order checksum of these batch sequences, applied in this order, as the checkpoint writes it. */
    private static String checksum(long... sequences) {
        long h = 0;
        for (long sequence : sequences) {
            h = io.streamtrain.trainer.internal.RunningLedger.nextChecksum(h, sequence);
        }
        return Long.toString(h);
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
