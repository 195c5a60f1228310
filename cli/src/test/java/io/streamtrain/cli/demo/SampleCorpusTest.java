package io.streamtrain.cli.demo;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SampleCorpusTest {

    @Test
    void shouldCopyEveryIndexedDocumentAsNonEmptyUtf8Text(@TempDir Path directory) throws Exception {
        List<String> names = SampleCorpus.documentNames();
        assertTrue(names.size() >= 10, "documents: " + names);
        SampleCorpus.copyTo(directory);
        long bytes = 0;
        for (String name : names) {
            byte[] content = Files.readAllBytes(directory.resolve(name));
            String text = new String(content, StandardCharsets.UTF_8);
            assertEquals(content.length, text.getBytes(StandardCharsets.UTF_8).length, name + " is valid UTF-8");
            assertTrue(text.length() > 1000, name + " holds a real document");
            bytes += content.length;
        }
        assertTrue(bytes > 50_000, "about 50 KB of text, got " + bytes + " bytes");
    }
}
