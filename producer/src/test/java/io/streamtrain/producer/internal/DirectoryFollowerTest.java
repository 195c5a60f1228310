package io.streamtrain.producer.internal;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DirectoryFollowerTest {
    @TempDir
    Path directory;

    private List<String> names(List<InputSource> sources) {
        return sources.stream().map(s -> directory.relativize(s.path()).toString()).toList();
    }

    @Test
    void shouldHandOutEachNewFileOnceInNameOrderWhenItStoppedChanging() throws IOException {
        Path old = Files.writeString(directory.resolve("0-old.txt"), "read before following");
        DirectoryFollower follower = new DirectoryFollower(List.of(directory), List.of(old));
        assertEquals(List.of(), follower.poll());

        Files.writeString(directory.resolve("b.txt"), "b");
        Files.createDirectories(directory.resolve("sub"));
        Files.writeString(directory.resolve("sub/a.txt"), "a");
        Files.writeString(directory.resolve("a.txt"), "a");
        Files.writeString(directory.resolve("c.txt.tmp"), "still being written");
        assertEquals(List.of(), follower.poll(), "first seen: wait one poll for the size to settle");

        Files.writeString(directory.resolve("b.txt"), "b grew"); // still being written
        assertEquals(List.of("a.txt", "sub/a.txt"), names(follower.poll()));
        assertEquals(List.of("b.txt"), names(follower.poll()));

        Files.move(directory.resolve("c.txt.tmp"), directory.resolve("c.txt")); // complete: renamed
        Files.writeString(directory.resolve("a.txt"), "a changed after it was read");
        assertEquals(List.of(), follower.poll());
        assertEquals(List.of("c.txt"), names(follower.poll()), "a file is read once, even if it changes later");
        assertEquals(List.of(), follower.poll());
    }
}
