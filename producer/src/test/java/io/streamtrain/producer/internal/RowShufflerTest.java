package io.streamtrain.producer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class RowShufflerTest {
    private static final int T = 4;

    /** Rows from a one-row packer over the stream 0, 1, 2, ...: row r holds r*T .. r*T+T. */
    private static List<PackedBatch> shuffle(int rows, int capacity, long seed, List<Integer> firstTokens) {
        List<PackedBatch> batches = new ArrayList<>();
        RowShuffler shuffler = new RowShuffler(rows, T, capacity, seed, 5, batches::add);
        TokenPacker packer = new TokenPacker(1, T, -1, 0, shuffler::accept);
        int[] stream = new int[401];
        Arrays.setAll(stream, i -> i);
        packer.add(new PackedBatch.DocumentId("d", "test"), stream, 0, stream.length, false);
        shuffler.drain();
        for (PackedBatch batch : batches) {
            for (int b = 0; b < batch.rows(); b++) {
                firstTokens.add(batch.tokens()[b * (T + 1)]);
            }
        }
        return batches;
    }

    @Test
    void shouldPublishEveryWindowExactlyOnceInAnotherOrder() {
        List<Integer> firstTokens = new ArrayList<>();

        List<PackedBatch> batches = shuffle(4, 16, 1, firstTokens);

        assertEquals(25, batches.size(), "100 rows of T=4 make 25 batches of 4");
        assertEquals(5, batches.get(0).sequence());
        List<Integer> sorted = new ArrayList<>(firstTokens);
        sorted.sort(Integer::compare);
        List<Integer> expected = new ArrayList<>();
        for (int r = 0; r < 100; r++) {
            expected.add(r * T);
        }
        assertEquals(expected, sorted, "each window once");
        assertNotEquals(expected, firstTokens, "not in stream order");
        for (PackedBatch batch : batches) {
            for (int b = 0; b < batch.rows(); b++) {
                int first = batch.tokens()[b * (T + 1)];
                for (int t = 0; t <= T; t++) {
                    assertEquals(first + t, batch.tokens()[b * (T + 1) + t], "a row stays a window of the stream");
                }
            }
        }
    }

    @Test
    void shouldShuffleTheSameWayWithTheSameSeedOnly() {
        List<Integer> first = new ArrayList<>();
        List<Integer> again = new ArrayList<>();
        List<Integer> other = new ArrayList<>();

        shuffle(4, 16, 1, first);
        shuffle(4, 16, 1, again);
        shuffle(4, 16, 2, other);

        assertEquals(first, again);
        assertNotEquals(first, other);
    }
}
