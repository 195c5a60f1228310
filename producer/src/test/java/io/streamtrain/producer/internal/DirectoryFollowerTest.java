package io.streamtrain.producer.internal;

import io.streamtrain.producer.InputFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.streamtrain.producer.TestFiles.gzip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The watch of {@code --follow}, on real files, with a clock the test moves: settle time 1 s. */
class DirectoryFollowerTest {
    private static final Duration SETTLE = Duration.ofSeconds(1);

    @TempDir
    Path directory;

    private long nanos;
    private final List<String> notices = new ArrayList<>();
    private final List<String> bad = new ArrayList<>();
    private final DocumentReader reader = new DocumentReader(InputFormat.AUTO, 0, true, new BadInputLog(bad::add),
            count -> {}, () -> false);

    private DirectoryFollower follower(Map<Path, DocumentReader.Result> alreadyRead) {
        return new DirectoryFollower(List.of(directory), alreadyRead, SETTLE, notices::add, () -> nanos);
    }

    private void later(long millis) {
        nanos += millis * 1_000_000L;
    }

    private List<String> names(List<DirectoryFollower.Ready> ready) {
        return ready.stream().map(r -> directory.relativize(r.file().path()).toString()).toList();
    }

    /** A write that the file's modification time shows even on a file system with coarse times. */
    private static void append(Path file, String text, int tick) throws IOException {
        Files.writeString(file, text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        Files.setLastModifiedTime(file, FileTime.from(Instant.parse("2026-01-01T00:00:00Z").plusSeconds(tick)));
    }

    /** Reads what the follower handed out, as {@code produce --follow} does, and returns the texts. */
    private List<String> readAll(DirectoryFollower follower, List<DirectoryFollower.Ready> ready) {
        List<String> texts = new ArrayList<>();
        for (DirectoryFollower.Ready next : ready) {
            List<Document> documents = new ArrayList<>();
            follower.read(next.file().path(), next.appended()
                    ? reader.readFrom(next.file(), next.before(), documents::add)
                    : reader.read(next.file(), null, documents::add));
            documents.forEach(document -> texts.add(document.text()));
        }
        return texts;
    }

    @Test
    void shouldHandOutEachNewFileInNameOrderOnceItStayedUnchangedForTheSettleTime() throws IOException {
        Path old = Files.writeString(directory.resolve("0-old.txt"), "read before following");
        DirectoryFollower follower = follower(Map.of(old, new DocumentReader.Result(Files.size(old), 0,
                InputFormat.TEXT, false)));
        assertEquals(List.of(), follower.poll());

        append(directory.resolve("b.txt"), "b", 1);
        Files.createDirectories(directory.resolve("sub"));
        append(directory.resolve("sub/a.txt"), "a", 1);
        append(directory.resolve("a.txt"), "a", 1);
        append(directory.resolve("c.txt.part"), "still being written", 1);
        assertEquals(List.of(), follower.poll(), "first seen: wait for the settle time");

        later(600);
        append(directory.resolve("b.txt"), " grew", 2); // still being written
        assertEquals(List.of(), follower.poll(), "unchanged for 0.6 s only");
        later(600);
        assertEquals(List.of("a.txt", "sub/a.txt"), names(follower.poll()), "unchanged for 1.2 s");
        later(600);
        assertEquals(List.of("b.txt"), names(follower.poll()), "unchanged for 1.2 s since it grew");
        assertEquals(List.of(), follower.poll(), "handed out once");

        Files.move(directory.resolve("c.txt.part"), directory.resolve("c.txt")); // complete: renamed
        assertEquals(List.of(), follower.poll());
        later(1000);
        assertEquals(List.of("c.txt"), names(follower.poll()), ".part files are left alone until renamed");
        later(5000);
        assertEquals(List.of(), follower.poll());
        assertEquals(List.of(), notices);
    }

    @Test
    void shouldHandOutWhatIsAppendedToAFileAfterAPauseFromWhereTheLastReadEnded() throws IOException {
        // The newcomer's case: 200 kB of JSON Lines, a pause longer than the settle time, then the rest.
        Path file = directory.resolve("crawl.jsonl");
        StringBuilder firstPart = new StringBuilder();
        int line = 0;
        while (firstPart.length() < 200_000) {
            firstPart.append("{\"text\": \"document ").append(line++).append("\"}\n");
        }
        firstPart.append("{\"text\": \"half a li"); // the writer paused in the middle of a line
        DirectoryFollower follower = follower(Map.of());
        append(file, firstPart.toString(), 1);
        follower.poll();
        later(1500);
        List<String> first = readAll(follower, follower.poll());
        assertEquals(line, first.size(), "the whole lines of the first part");

        later(10_000);
        assertEquals(List.of(), follower.poll(), "nothing new during the pause");
        append(file, "ne\"}\n{\"text\": \"the rest\"}\n", 2);
        assertEquals(List.of(), follower.poll(), "grew: wait for the settle time again");
        later(1500);
        List<DirectoryFollower.Ready> rest = follower.poll();
        assertEquals(1, rest.size());
        assertTrue(rest.get(0).appended(), "read on, not from the start");
        assertEquals(List.of("half a line", "the rest"), readAll(follower, rest));
        later(1500);
        assertEquals(List.of(), follower.poll(), "all of it read");
        assertEquals(List.of(), bad, "no line was cut in two");
    }

    @Test
    void shouldSayOnceThatAChangedGzipFileAndAFileRewrittenShorterAreNotReadAgain() throws IOException {
        Path compressed = Files.write(directory.resolve("a.jsonl.gz"), gzip("{\"text\": \"a\"}\n"));
        Path rewritten = Files.writeString(directory.resolve("b.txt"), "a long first version");
        DirectoryFollower follower = follower(Map.of());
        follower.poll();
        later(1500);
        assertEquals(2, readAll(follower, follower.poll()).size());

        Files.write(compressed, gzip("{\"text\": \"b\"}\n"), StandardOpenOption.APPEND);
        Files.writeString(rewritten, "short");
        Files.setLastModifiedTime(rewritten, FileTime.from(Instant.parse("2026-01-01T00:00:00Z")));
        follower.poll();
        later(1500);
        assertEquals(List.of(), follower.poll());
        later(1500);
        assertEquals(List.of(), follower.poll());
        assertEquals(2, notices.size(), notices.toString());
        assertTrue(notices.get(0).contains(compressed + " changed after it was read: what is appended to a gzip file"
                + " is not read"), notices.toString());
        assertTrue(notices.get(1).contains(rewritten + " is now 5 bytes, shorter than the 20 already read"),
                notices.toString());
    }
}
