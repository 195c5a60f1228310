package io.streamtrain.producer.internal;

import io.streamtrain.producer.BadInput;
import io.streamtrain.producer.BadInputKind;
import io.streamtrain.producer.InputFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.streamtrain.producer.TestFiles.gzip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DocumentReaderTest {
    @TempDir
    Path directory;

    private final List<String> printed = new ArrayList<>();
    private final BadInputLog log = new BadInputLog(printed::add);
    private long bytesRead;

    private List<Document> read(InputFormat format, InputSource source, InputStream stdin) {
        List<Document> documents = new ArrayList<>();
        new DocumentReader(format, log, count -> bytesRead += count, () -> false).read(source, stdin, documents::add);
        return documents;
    }

    private List<Document> read(Path file) throws IOException {
        return read(InputFormat.AUTO, InputSource.file(file, Files.size(file)), InputStream.nullInputStream());
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path file = directory.resolve(name);
        Files.createDirectories(file.getParent());
        return Files.write(file, bytes);
    }

    private Path write(String name, String text) throws IOException {
        return write(name, text.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void shouldReadAPlainTextFileAsOneDocumentNamedByItsPath() throws IOException {
        Path file = write("poem.txt", "Shall I compare thee\nto a summer's day?\n");

        List<Document> documents = read(file);

        assertEquals(1, documents.size());
        Document document = documents.get(0);
        assertEquals("Shall I compare thee\nto a summer's day?\n", document.text());
        assertEquals(file.toString(), document.id());
        assertEquals(file.toString(), document.source());
        assertEquals(Files.size(file), bytesRead);
        assertEquals(0, log.total());
    }

    @Test
    void shouldReadJsonLinesKeepingOtherFieldsAsMetadataAndUsingTheIdField() throws IOException {
        Path file = write("slim.jsonl", """
                {"text": "first document", "meta": {"redpajama_set_name": "RedPajamaBook"}, "id": 17}
                {"text": "second\\ndocument", "url": "https://example.org/2"}

                {"id": "doc-3", "text": "third: caf\\u00e9 \u00e9t\u00e9"}
                """);

        List<Document> documents = read(file);

        assertEquals(3, documents.size());
        assertEquals("first document", documents.get(0).text());
        assertEquals("17", documents.get(0).id());
        assertEquals(Map.of("meta", "{\"redpajama_set_name\":\"RedPajamaBook\"}", "id", "17"),
                documents.get(0).metadata());
        assertEquals("second\ndocument", documents.get(1).text());
        assertEquals(file + ":2", documents.get(1).id(), "without an id field, the id is file:line");
        assertEquals(Map.of("url", "https://example.org/2"), documents.get(1).metadata());
        assertEquals(2, documents.get(1).line());
        assertEquals("doc-3", documents.get(2).id());
        assertEquals("third: café été", documents.get(2).text());
        assertEquals(4, documents.get(2).line(), "the blank line still counts");
        assertEquals(0, log.total(), "a blank line is not bad input");
    }

    @Test
    void shouldGunzipByTheGzSuffixAndByTheMagicBytesAlone() throws IOException {
        Path jsonl = write("part-0.jsonl.gz", gzip("{\"text\": \"zipped json\"}\n"));
        Path text = write("book.txt.gz", gzip("zipped text"));
        Path unnamed = write("blob", gzip("{\"text\": \"zipped without a name\"}\n"));

        assertEquals("zipped json", read(jsonl).get(0).text());
        assertEquals("zipped text", read(text).get(0).text());
        List<Document> sniffed = read(unnamed);
        assertEquals(1, sniffed.size());
        assertEquals("zipped without a name", sniffed.get(0).text(), "gzip by magic, then JSON Lines by its '{'");
        assertEquals(0, log.total());
    }

    @Test
    void shouldReadStandardInputAsJsonLinesOrTextAndLeaveItOpen() {
        byte[] jsonl = "{\"text\": \"from a pipe\"}\n{\"text\": \"second\"}\n".getBytes(StandardCharsets.UTF_8);
        boolean[] closed = {false};
        InputStream stdin = new ByteArrayInputStream(jsonl) {
            @Override
            public void close() {
                closed[0] = true;
            }
        };

        List<Document> documents = read(InputFormat.AUTO, InputSource.stdin(), stdin);

        assertEquals(List.of("from a pipe", "second"), documents.stream().map(Document::text).toList());
        assertEquals("stdin:2", documents.get(1).id());
        assertEquals(false, closed[0], "standard input belongs to the caller");
        List<Document> text = read(InputFormat.TEXT, InputSource.stdin(),
                new ByteArrayInputStream("{not json, forced text}".getBytes(StandardCharsets.UTF_8)));
        assertEquals("{not json, forced text}", text.get(0).text());
        assertEquals("stdin", text.get(0).id());
    }

    @Test
    void shouldListDirectoriesRecursivelyInPathOrderLeavingHiddenAndPartialFilesOut() throws IOException {
        write("b/2.txt", "b2");
        write("a/z.txt", "az");
        write("a/sub/1.txt", "a-sub-1");
        write("c.jsonl", "{\"text\": \"c\"}");
        write(".hidden.txt", "hidden");
        write(".git/config", "hidden directory");
        write("d.txt.part", "being copied");
        Path named = write("explicit/.named.txt", "named explicitly");

        List<InputSource> sources = Inputs.expand(List.of(directory.toString(), named.toString(),
                directory.resolve("missing.txt").toString()), log);

        List<String> names = sources.stream().map(s -> directory.relativize(s.path()).toString()).toList();
        // The directory's files in path order (hidden and partial ones left out), then the file named explicitly:
        // hidden, yet read because it was named.
        assertEquals(List.of("a/sub/1.txt", "a/z.txt", "b/2.txt", "c.jsonl", "explicit/.named.txt"), names);
        assertEquals(1, log.total());
        BadInput missing = log.examples().get(0);
        assertEquals(BadInputKind.UNREADABLE_FILE, missing.kind());
        assertTrue(missing.message().contains("no such file"), missing.message());
    }

    @Test
    void shouldCountEachKindOfBadInputWithFileAndLineWhileGoodDocumentsGoThrough() throws IOException {
        byte[] latin1 = "{\"text\": \"caf\u00e9\"}".getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream jsonl = new ByteArrayOutputStream();
        jsonl.write("""
                {"text": "good one"}
                {"text": "broken
                {"title": "no text here"}
                """.getBytes(StandardCharsets.UTF_8));
        jsonl.write(latin1);
        jsonl.write("""

                {"text": "   "}
                [1, 2, 3]
                {"text": 42}
                {"text": "good two"}
                """.getBytes(StandardCharsets.UTF_8));
        Path lines = write("mixed.jsonl", jsonl.toByteArray());
        Path empty = write("empty.txt", "  \n ");
        Path invalidText = write("latin1.txt", "line one\nline two caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        Path corrupt = write("corrupt.txt.gz", new byte[] {0x1f, (byte) 0x8b, 8, 0, 1, 2, 3});

        List<Document> documents = new ArrayList<>();
        for (Path file : List.of(lines, empty, invalidText, corrupt)) {
            documents.addAll(read(file));
        }

        assertEquals(List.of("good one", "good two"), documents.stream().map(Document::text).toList());
        assertEquals(List.of(
                        lines + ":2 invalid JSON", lines + ":3 missing text field", lines + ":4 invalid UTF-8",
                        lines + ":5 empty document", lines + ":6 invalid JSON", lines + ":7 missing text field",
                        empty + " empty document", invalidText + ":2 invalid UTF-8", corrupt + " unreadable file"),
                log.examples().stream().map(bad -> bad.location() + " " + bad.kind().description()).toList());
        assertEquals(Map.of(BadInputKind.INVALID_JSON, 2L, BadInputKind.MISSING_TEXT, 2L, BadInputKind.INVALID_UTF8, 2L,
                BadInputKind.EMPTY_DOCUMENT, 2L, BadInputKind.UNREADABLE_FILE, 1L, BadInputKind.DOCUMENT_TOO_LARGE, 0L),
                log.counts());
        assertEquals(9, printed.size(), "each bad input is printed");
        assertTrue(printed.get(0).startsWith("skipped " + lines + ":2: invalid JSON: Unexpected end-of-input")
                && printed.get(0).endsWith(")") && !printed.get(0).contains("[Source"), printed.get(0));
        assertTrue(printed.get(2).startsWith("skipped " + lines + ":4: invalid UTF-8: byte 14 of the line"),
                printed.get(2));
    }

    @Test
    void shouldSkipADocumentLargerThanTheMaximumNamingFileAndLineAndReadTheRest() throws IOException {
        String huge = "{\"text\": \"" + "w".repeat(5000) + "\"}";
        Path lines = write("crawl.jsonl", "{\"text\": \"small\"}\n" + huge + "\n{\"text\": \"after\"}\n");
        Path book = write("book.txt", "v".repeat(1001));
        List<Document> documents = new ArrayList<>();
        DocumentReader reader = new DocumentReader(InputFormat.AUTO, 1000, false, log, count -> {}, () -> false);

        reader.read(InputSource.file(lines, Files.size(lines)), null, documents::add);
        reader.read(InputSource.file(book, Files.size(book)), null, documents::add);

        assertEquals(List.of("small", "after"), documents.stream().map(Document::text).toList());
        assertEquals(3, documents.get(1).line(), "line numbers count the skipped line");
        assertEquals(2L, log.counts().get(BadInputKind.DOCUMENT_TOO_LARGE));
        assertEquals(new BadInput(BadInputKind.DOCUMENT_TOO_LARGE, lines.toString(), 2, "the line is "
                + huge.length() + " bytes, more than 1000 (max.document.bytes); raise max.document.bytes (0 = no limit)"
                + " or split the document"), log.examples().get(0));
        assertTrue(printed.get(1).contains(book + ": document too large: the file is 1001 bytes, more than 1000"),
                printed.toString());
    }

    @Test
    void shouldReadOnFromWhereTheLastReadEndedWhenAFileGrows() throws IOException {
        Path lines = write("live.jsonl", "{\"text\": \"one\"}\n{\"text\": \"tw");
        Path text = write("live.txt", "first part. ");
        List<Document> documents = new ArrayList<>();
        DocumentReader reader = new DocumentReader(InputFormat.AUTO, 0, true, log, count -> {}, () -> false);

        DocumentReader.Result linesRead = reader.read(InputSource.file(lines, 0), null, documents::add);
        DocumentReader.Result textRead = reader.read(InputSource.file(text, 0), null, documents::add);
        assertEquals(List.of("one", "first part. "), documents.stream().map(Document::text).toList());
        assertEquals(new DocumentReader.Result(16, 1, InputFormat.JSONL, false), linesRead,
                "the incomplete last line is left for later, not reported");
        assertEquals(0, log.total(), printed.toString());

        Files.writeString(lines, "o\"}\n{\"text\": \"three\"}", java.nio.file.StandardOpenOption.APPEND);
        Files.writeString(text, "second part.", java.nio.file.StandardOpenOption.APPEND);
        DocumentReader.Result linesReadOn = reader.readFrom(InputSource.file(lines, 0), linesRead, documents::add);
        reader.readFrom(InputSource.file(text, 0), textRead, documents::add);

        assertEquals(List.of("one", "first part. ", "two", "three", "second part."),
                documents.stream().map(Document::text).toList());
        assertEquals(List.of(1L, 0L, 2L, 3L, 0L), documents.stream().map(Document::line).toList());
        assertEquals(text + "@12", documents.get(4).id(), "appended text is a further document");
        assertEquals(new DocumentReader.Result(Files.size(lines), 3, InputFormat.JSONL, false), linesReadOn,
                "a last line without a line end that is whole JSON is read");
        assertEquals(0, log.total(), printed.toString());
    }

    @Test
    void shouldStopReadingBetweenDocumentsWhenAskedTo() throws IOException {
        Path file = write("many.jsonl", "{\"text\": \"a\"}\n".repeat(10));
        List<Document> documents = new ArrayList<>();
        new DocumentReader(InputFormat.AUTO, log, count -> {}, () -> documents.size() >= 3)
                .read(InputSource.file(file, Files.size(file)), InputStream.nullInputStream(), documents::add);
        assertEquals(3, documents.size());
    }
}
