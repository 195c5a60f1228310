package io.streamtrain.producer.internal;

import io.streamtrain.producer.ProgressMode;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressTest {
    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8);

    private String printed() {
        return output.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldLogPlainLinesWithPercentAndEtaWhenTheTotalSizeIsKnown() throws InterruptedException {
        Progress progress = new Progress(out, ProgressMode.LOG, 4_000_000, 1);
        progress.addBytes(1_000_000);
        Thread.sleep(5);
        progress.setCounts(1234, 2_345_678, 45);

        String line = printed();
        assertTrue(line.matches("produced 1,234 documents, 2345.7k tokens, 45 batches, [0-9.]+ MB/s, 25% of 4.0 MB, "
                + "ETA [0-9]+:[0-9]{2}\n"), line);
    }

    @Test
    void anIdleProducerLogsNoLineUntilSomethingChanges() throws InterruptedException {
        Progress progress = new Progress(out, ProgressMode.LOG, -1, 1);
        for (int i = 0; i < 5; i++) { // --follow with nothing new: nothing to say
            Thread.sleep(3);
            progress.tick();
        }
        assertEquals("", printed());
        progress.addBytes(100);
        progress.setCounts(1, 100, 0);
        for (int i = 0; i < 5; i++) {
            Thread.sleep(3);
            progress.tick();
        }
        assertEquals(1, printed().lines().count(), printed());
    }

    @Test
    void shouldRedrawABarInPlaceAndPrintMessagesOnTheirOwnLines() throws InterruptedException {
        Progress progress = new Progress(out, ProgressMode.BAR, 100, 1);
        progress.addBytes(50);
        progress.finish(); // draws the bar, ends its line
        String bar = printed();
        assertTrue(bar.startsWith("\r\033[2K[############............] 0 documents"), bar);
        assertTrue(bar.endsWith("\n"), "the final bar keeps its line");

        output.reset();
        progress.setTotalBytes(-1);
        Thread.sleep(250); // the bar refreshes at most every 200 ms
        progress.tick();
        progress.message("skipped x.jsonl:3: invalid JSON: ...");
        String redrawn = printed();
        assertTrue(redrawn.startsWith("\r\033[2K0 documents, 0 tokens, 0 batches"), "no bar without a total: " + redrawn);
        assertTrue(redrawn.endsWith("\r\033[2Kskipped x.jsonl:3: invalid JSON: ...\n"), "the bar is cleared first");
    }

    @Test
    void shouldPrintNothingWhenProgressIsOff() {
        Progress progress = new Progress(out, ProgressMode.NONE, 100, 1);
        progress.setCounts(1, 2, 3);
        progress.message("hidden");
        progress.finish();
        assertEquals("", printed());
    }

    @Test
    void shouldWriteCountsAndDurationsForPeople() {
        assertEquals("9999", Progress.humanCount(9_999));
        assertEquals("12.3k", Progress.humanCount(12_345));
        assertEquals("12.3M", Progress.humanCount(12_345_678));
        assertEquals("812 B", Progress.humanBytes(812));
        assertEquals("4.0 MB", Progress.humanBytes(4_000_000));
        assertEquals("0:07", Progress.duration(7));
        assertEquals("1:01:01", Progress.duration(3661));
    }
}
