package io.streamtrain.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** What every tokenizer promises; each implementation's test extends this class. */
abstract class TokenizerContractTest {
    static final List<String> TEXTS = List.of(
            "",
            "Hello world",
            "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
            "emoji \uD83D\uDE00\uD83D\uDC4D\uD83C\uDFFD and a family \uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67",
            "CJK 光の中で、猫が寝ている。我们一起学习机器学习。한국어 텍스트",
            "mixed\ttabs   spaces\r\nnumbers 1234567890 3.14159 and 'quotes' don't we'll",
            "the text <|endoftext|> is ordinary text, not the id",
            "\u0000control\u0007chars\u001b[0m and a lone \uFFFD");

    abstract Tokenizer tokenizer();

    /** A second, independently opened instance of the same vocabulary. */
    abstract Tokenizer reopened();

    @Test
    void shouldRoundTripTextIncludingEmojiAndCjk() {
        Tokenizer tokenizer = tokenizer();
        for (String text : TEXTS) {
            int[] ids = tokenizer.encode(text);
            assertEquals(text, tokenizer.decode(ids), () -> "round trip of " + text);
            for (int id : ids) {
                assertTrue(id >= 0 && id < tokenizer.vocabularySize(), "id " + id + " within V");
            }
        }
    }

    @Test
    void shouldEncodeTheEndOfTextMarkerInTextAsOrdinaryTokens() {
        Tokenizer tokenizer = tokenizer();
        int[] ids = tokenizer.encode(Tokenizer.END_OF_TEXT);
        assertFalse(Arrays.stream(ids).anyMatch(id -> id == tokenizer.endOfText()), Arrays.toString(ids));
        assertEquals(Tokenizer.END_OF_TEXT, tokenizer.decode(ids));
    }

    @Test
    void shouldDecodeEndOfTextAsItsMarkerAndKeepItLastInTheVocabulary() {
        Tokenizer tokenizer = tokenizer();
        assertEquals(tokenizer.vocabularySize() - 1, tokenizer.endOfText());
        int[] hello = tokenizer.encode("Hello");
        int[] ids = Arrays.copyOf(hello, hello.length + 1);
        ids[hello.length] = tokenizer.endOfText();
        assertEquals("Hello" + Tokenizer.END_OF_TEXT, tokenizer.decode(ids));
    }

    @Test
    void shouldNeverThrowWhenDecodingRandomIdsBelowTheVocabularySize() {
        Tokenizer tokenizer = tokenizer();
        Random random = new Random(42);
        for (int trial = 0; trial < 2000; trial++) {
            int[] ids = random.ints(random.nextInt(1, 40), 0, tokenizer.vocabularySize()).toArray();
            String text = tokenizer.decode(ids, 0, ids.length);
            assertTrue(text != null);
        }
    }

    @Test
    void shouldJoinTokenBytesBeforeDecodingAndReplaceBrokenUtf8() {
        Tokenizer tokenizer = tokenizer();
        String emoji = "\uD83D\uDE00"; // 4 UTF-8 bytes, split over several tokens by every vocabulary here
        int[] ids = tokenizer.encode(emoji);
        assertTrue(ids.length > 1, () -> "expected several tokens for an emoji, got " + Arrays.toString(ids));
        assertEquals(emoji, tokenizer.decode(ids));
        String firstTokenOnly = tokenizer.decode(ids, 0, 1);
        assertEquals("\uFFFD", firstTokenOnly);
        int[] brokenThenText = concat(Arrays.copyOf(ids, 1), tokenizer.encode("ok"));
        assertEquals("\uFFFDok", tokenizer.decode(brokenThenText));
    }

    @Test
    void shouldDecodeARangeOfTheArray() {
        Tokenizer tokenizer = tokenizer();
        int[] hello = tokenizer.encode("Hello");
        int[] world = tokenizer.encode(" world");
        int[] both = concat(concat(world, hello), world);
        assertEquals("Hello", tokenizer.decode(both, world.length, hello.length));
    }

    @Test
    void shouldNameTheIdWhenAskedToDecodeAnIdOutsideTheVocabulary() {
        Tokenizer tokenizer = tokenizer();
        int[] ids = {0, tokenizer.vocabularySize()};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(ids));
        assertTrue(e.getMessage().contains("token id " + tokenizer.vocabularySize() + " at index 1")
                && e.getMessage().contains(tokenizer.name()), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> tokenizer.decode(new int[] {-1}));
    }

    @Test
    void shouldHaveAStableSha256Fingerprint() {
        String fingerprint = tokenizer().fingerprint();
        assertTrue(fingerprint.matches("[0-9a-f]{64}"), fingerprint);
        assertEquals(fingerprint, reopened().fingerprint());
        assertEquals(tokenizer().name(), reopened().name());
    }

    @Test
    void shouldEncodeAlikeFromManyThreads() throws InterruptedException, ExecutionException {
        Tokenizer tokenizer = tokenizer();
        String text = String.join(" ", TEXTS);
        int[] expected = tokenizer.encode(text);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[]>> results = pool.invokeAll(java.util.Collections.nCopies(16, () -> tokenizer.encode(text)));
            for (Future<int[]> result : results) {
                assertArrayEquals(expected, result.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    static int[] concat(int[] first, int[] second) {
        int[] ids = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, ids, first.length, second.length);
        return ids;
    }
}
