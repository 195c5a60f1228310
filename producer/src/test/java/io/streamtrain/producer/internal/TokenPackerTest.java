package io.streamtrain.producer.internal;

import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class TokenPackerTest {
    private static final int EOT = 99;

    private final List<PackedBatch> batches = new ArrayList<>();

    private static PackedBatch.DocumentId doc(String id) {
        return new PackedBatch.DocumentId(id, "test");
    }

    private static List<String> ids(PackedBatch batch) {
        return batch.documents().stream().map(PackedBatch.DocumentId::id).toList();
    }

    private static int[] row(PackedBatch batch, int b) {
        int stride = batch.sequenceLength() + 1;
        return Arrays.copyOfRange(batch.tokens(), b * stride, (b + 1) * stride);
    }

    @Test
    void shouldPrecedeEveryDocumentWithEndOfTextAndShareOneTokenBetweenRows() {
        TokenPacker packer = new TokenPacker(2, 4, EOT, 0, batches::add); // B=2, T=4: B*T+1 = 9 tokens a batch

        packer.add(doc("d0"), new int[] {1, 2, 3});
        packer.add(doc("d1"), new int[] {4, 5, 6, 7, 8});
        packer.add(doc("d2"), new int[] {9});
        // stream: 99 1 2 3 99 4 5 6 7 | 8 99 9

        assertEquals(1, batches.size());
        PackedBatch batch = batches.get(0);
        assertEquals(0, batch.sequence());
        assertArrayEquals(new int[] {99, 1, 2, 3, 99}, row(batch, 0));
        assertArrayEquals(new int[] {99, 4, 5, 6, 7}, row(batch, 1), "row 1 starts with row 0's last token");
        assertEquals(List.of("d0", "d1"), ids(batch));
        assertEquals(12, packer.streamTokens());
        assertEquals(3, packer.tailTokens(), "8 99 9 follow the last target of the batch (7)");
    }

    @Test
    void shouldUseEveryTokenAfterTheFirstAsATargetExactlyOnceAcrossRowsAndBatches() {
        int rows = 3;
        int sequenceLength = 5;
        TokenPacker packer = new TokenPacker(rows, sequenceLength, EOT, 7, batches::add);
        Random random = new Random(42);
        List<Integer> stream = new ArrayList<>();
        for (int d = 0; d < 40; d++) {
            int[] ids = random.ints(random.nextInt(25), 0, 90).toArray(); // some documents empty, some span batches
            stream.add(EOT);
            Arrays.stream(ids).forEach(stream::add);
            packer.add(doc("d" + d), ids);
        }

        List<Integer> inputs = new ArrayList<>();
        List<Integer> targets = new ArrayList<>();
        for (PackedBatch batch : batches) {
            for (int b = 0; b < rows; b++) {
                int[] row = row(batch, b);
                for (int t = 0; t < sequenceLength; t++) {
                    inputs.add(row[t]);
                    targets.add(row[t + 1]);
                }
            }
        }
        int covered = batches.size() * rows * sequenceLength;
        assertEquals(stream.subList(0, covered), inputs);
        assertEquals(stream.subList(1, covered + 1), targets);
        assertEquals(stream.size() - 1 - covered, packer.tailTokens(), "the tail is what no batch holds as target");
        assertEquals(IntStream.range(7, 7 + batches.size()).boxed().toList(),
                batches.stream().map(b -> (int) b.sequence()).toList(), "sequence numbers follow first.sequence");
        assertEquals(7 + batches.size(), packer.nextSequence());
    }

    @Test
    void shouldKeepThePartialLastWindowAndCountItAsTheTail() {
        // B=2, T=4: batch k needs stream tokens up to (k+1)*8 inclusive.
        Map<Integer, long[]> expected = Map.of( // stream length -> {batches, tail tokens}
                1, new long[] {0, 1}, 8, new long[] {0, 8}, 9, new long[] {1, 0}, 10, new long[] {1, 1},
                16, new long[] {1, 7}, 17, new long[] {2, 0}, 18, new long[] {2, 1});
        expected.forEach((length, batchesAndTail) -> {
            TokenPacker packer = new TokenPacker(2, 4, EOT, 0, batch -> {});
            packer.add(doc("only"), IntStream.range(0, length - 1).toArray()); // EOT + length-1 ids
            assertEquals(batchesAndTail[0], packer.batches(), "batches for a stream of " + length);
            assertEquals(batchesAndTail[1], packer.tailTokens(), "tail for a stream of " + length);
        });
    }

    @Test
    void shouldCarryTheTailIntoTheNextDocumentAsIngestionsContinue() {
        TokenPacker packer = new TokenPacker(1, 4, EOT, 0, batches::add); // 5 tokens a batch
        packer.add(doc("first file"), new int[] {1, 2});    // 99 1 2
        assertEquals(0, batches.size());
        assertEquals(3, packer.tailTokens());
        packer.add(doc("second file"), new int[] {3, 4, 5}); // 99 1 2 99 3 | 4 5

        assertEquals(1, batches.size());
        assertArrayEquals(new int[] {99, 1, 2, 99, 3}, batches.get(0).tokens());
        assertEquals(List.of("first file", "second file"), ids(batches.get(0)));
        packer.add(doc("third file"), new int[] {6});       // 3 4 5 99 6
        assertEquals(2, batches.size());
        assertArrayEquals(new int[] {3, 4, 5, 99, 6}, batches.get(1).tokens());
        assertEquals(List.of("second file", "third file"), ids(batches.get(1)),
                "a document whose tokens straddle batches is listed by both");
        assertEquals(0, packer.tailTokens());
    }

    @Test
    void shouldListADocumentWhoseOnlySharedTokenIsTheBoundaryInBothBatches() {
        TokenPacker packer = new TokenPacker(1, 2, EOT, 0, batches::add); // 3 tokens a batch
        packer.add(doc("a"), new int[] {1});  // 99 1
        packer.add(doc("b"), new int[] {});   // 99        <- position 2: last of batch 0, first of batch 1
        packer.add(doc("c"), new int[] {2});  // 99 2

        assertEquals(2, batches.size());
        assertEquals(List.of("a", "b"), ids(batches.get(0)));
        assertEquals(List.of("b", "c"), ids(batches.get(1)));
    }

    @Test
    void shouldPackIdenticallyWhateverTheNumberOfTokenizerThreads() {
        Tokenizer tokenizer = Tokenizers.open("byte");
        Random random = new Random(7);
        List<Document> documents = new ArrayList<>();
        for (int d = 0; d < 500; d++) {
            StringBuilder text = new StringBuilder();
            int words = 1 + random.nextInt(random.nextInt(10) == 0 ? 2000 : 30); // a few long documents
            for (int w = 0; w < words; w++) {
                text.append(Integer.toString(random.nextInt(1 << 20), 36)).append(random.nextBoolean() ? ' ' : '\n');
            }
            documents.add(new Document("d" + d, "test", d + 1, text.toString(), Map.of()));
        }

        List<PackedBatch> one = pack(tokenizer, 1, documents);
        List<PackedBatch> four = pack(tokenizer, 4, documents);
        List<PackedBatch> again = pack(tokenizer, 4, documents);

        assertEquals(one.size(), four.size());
        for (int i = 0; i < one.size(); i++) {
            assertArrayEquals(one.get(i).tokens(), four.get(i).tokens(), "batch " + i);
            assertEquals(one.get(i).documents(), four.get(i).documents(), "documents of batch " + i);
            assertArrayEquals(four.get(i).tokens(), again.get(i).tokens(), "batch " + i + " of a second run");
        }
        int[] expectedStart = tokenizer.encode(documents.get(0).text());
        assertEquals(tokenizer.endOfText(), one.get(0).tokens()[0]);
        assertArrayEquals(Arrays.copyOf(expectedStart, 10), Arrays.copyOfRange(one.get(0).tokens(), 1, 11));
    }

    private static List<PackedBatch> pack(Tokenizer tokenizer, int threads, List<Document> documents) {
        List<PackedBatch> packed = new ArrayList<>();
        TokenPacker packer = new TokenPacker(4, 32, tokenizer.endOfText(), 0, packed::add);
        try (TokenizingPipeline pipeline = new TokenizingPipeline(tokenizer, threads, encoded -> packer.add(
                new PackedBatch.DocumentId(encoded.document().id(), encoded.document().source()), encoded.ids()))) {
            documents.forEach(pipeline::accept);
            pipeline.flush();
        }
        return packed;
    }

    @Test
    void shouldContinueADocumentWithoutEndOfTextAndDropSkippedTokens() {
        TokenPacker packer = new TokenPacker(1, 4, EOT, 0, batches::add);

        packer.add(doc("d0"), new int[] {1, 2, 3, 4, 5, 6}, 0, 2, true);  // 99 1 2
        packer.add(doc("d0"), new int[] {1, 2, 3, 4, 5, 6}, 4, 6, false); // 5 6 (3 4 held out elsewhere)
        packer.skip(2);
        packer.add(doc("d1"), new int[] {7, 8, 9}); // 99 and 7 skipped: 8 9

        assertEquals(1, batches.size());
        assertArrayEquals(new int[] {99, 1, 2, 5, 6}, row(batches.get(0), 0));
        assertEquals(List.of("d0"), ids(batches.get(0)));
        assertEquals(7, packer.streamTokens());
    }
}
