package io.streamtrain.producer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HoldoutSplitTest {

    private record Part(int from, int to, boolean heldOut) {}

    private static List<Part> parts(HoldoutSplit split, int[] ids) {
        List<Part> parts = new ArrayList<>();
        split.split(ids, (from, to, heldOut) -> parts.add(new Part(from, to, heldOut)));
        return parts;
    }

    private static int[] randomIds(long seed, int length) {
        Random random = new Random(seed);
        int[] ids = new int[length];
        for (int i = 0; i < length; i++) {
            ids[i] = random.nextInt(256);
        }
        return ids;
    }

    private static long heldOut(List<Part> parts) {
        return parts.stream().filter(Part::heldOut).mapToLong(p -> p.to - p.from).sum();
    }

    @Test
    void shouldCutOneLargeDocumentIntoDisjointPartsCoveringItWithTheFractionHeldOut() {
        HoldoutSplit split = new HoldoutSplit(0.1, 1000, 1337);
        int[] document = randomIds(1, 1_000_000);

        List<Part> parts = parts(split, document);

        int expectedFrom = 0;
        for (Part part : parts) {
            assertEquals(expectedFrom, part.from, "parts follow each other without gap or overlap");
            assertTrue(part.to > part.from);
            expectedFrom = part.to;
        }
        assertEquals(document.length, expectedFrom, "the parts cover the document");
        assertEquals(100_000, heldOut(parts), "exactly a tenth of the 1000 blocks is held out");
        for (int i = 1; i < parts.size(); i++) {
            assertNotEquals(parts.get(i - 1).heldOut, parts.get(i).heldOut, "runs are maximal");
        }
        assertTrue(parts.size() >= 199, "the held-out blocks are spread over the document, not one run: "
                + parts.size());
    }

    @Test
    void shouldHoldOutAboutTheFractionOfManySmallDocumentsEachWhole() {
        HoldoutSplit split = new HoldoutSplit(0.2, 1000, 7);
        long held = 0;
        int documents = 5000;
        for (int d = 0; d < documents; d++) {
            List<Part> parts = parts(split, randomIds(d, 50));
            assertEquals(1, parts.size(), "a document of one block goes whole to one side");
            held += parts.get(0).heldOut ? 1 : 0;
        }
        assertEquals(0.2, held / (double) documents, 0.02);
    }

    @Test
    void shouldSplitTheSameDocumentTheSameWayEveryTimeAndAnotherWayWithAnotherSeed() {
        int[] document = randomIds(3, 200_000);

        List<Part> first = parts(new HoldoutSplit(0.1, 512, 1), document);
        List<Part> again = parts(new HoldoutSplit(0.1, 512, 1), document.clone());
        List<Part> otherSeed = parts(new HoldoutSplit(0.1, 512, 2), document);

        assertEquals(first, again);
        assertNotEquals(first, otherSeed);
    }

    @Test
    void shouldHoldOutNothingAtFractionZero() {
        List<Part> parts = parts(new HoldoutSplit(0, 10, 1), randomIds(4, 1000));

        assertEquals(List.of(new Part(0, 1000, false)), parts);
    }
}
