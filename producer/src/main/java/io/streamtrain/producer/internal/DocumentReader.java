package io.streamtrain.producer.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.producer.BadInputKind;
import io.streamtrain.producer.InputFormat;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.zip.GZIPInputStream;

/**
 * Reads the documents of one source: gzip is undone when the name ends with .gz or the bytes start with the gzip
 * magic; then the whole source is one text document, or each line is a JSON object whose string {@code text} is
 * the document (other fields kept as metadata, {@code id} used as the document id when present). Bad input is
 * reported to the {@link BadInputLog} with source and line and skipped; good documents go on. A document larger than
 * the maximum (a JSON Lines line, or a text source, of more than {@code maxDocumentBytes}) is skipped the same way,
 * without being held in memory. A file that grew after it was read can be read on from where the last read ended
 * ({@link #readFrom}). Not thread-safe: one reader per reading thread.
 */
public final class DocumentReader {
    private static final int GZIP_MAGIC_0 = 0x1f;
    private static final int GZIP_MAGIC_1 = 0x8b;
    private static final int SNIFF_BYTES = 4096;

    /**
     * Where a read of a source ended.
     *
     * @param endByte    bytes of the file read and used: where a read of what is appended later starts
     * @param lines      lines read and used (JSON Lines): the number of the line before the next one
     * @param format     the format the source was read as
     * @param compressed whether it was gzip (appended data of which cannot be read on)
     */
    public record Result(long endByte, long lines, InputFormat format, boolean compressed) {
        /** A source that could not be read to its end: not read on either. */
        static Result unreadable(long lines, InputFormat format) {
            return new Result(Long.MAX_VALUE, lines, format, true);
        }

        /** Whether what is appended to the file after this read can be read on from {@link #endByte()}. */
        public boolean canReadOn() {
            return !compressed && endByte != Long.MAX_VALUE;
        }
    }

    private final InputFormat format;
    private final int maxDocumentBytes;
    private final boolean holdIncompleteLastLine;
    private final BadInputLog log;
    private final LongConsumer bytesRead;
    private final BooleanSupplier stopRequested;
    private final StrictUtf8 utf8 = new StrictUtf8();
    private final ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    /**
     * @param format        how sources hold documents ({@link InputFormat#AUTO}: decided per source)
     * @param log           where bad input goes
     * @param bytesRead     told of every chunk of raw (still compressed) bytes read, for progress
     * @param stopRequested checked between documents: reading stops early when it turns true
     */
    public DocumentReader(InputFormat format, BadInputLog log, LongConsumer bytesRead, BooleanSupplier stopRequested) {
        this(format, 0, false, log, bytesRead, stopRequested);
    }

    /**
     * @param maxDocumentBytes       documents larger than this are skipped and reported; 0 = no limit
     * @param holdIncompleteLastLine for files still being written: a JSON Lines last line without a line end that is
     *                               not yet a whole JSON object is left for the next read, not reported
     */
    public DocumentReader(InputFormat format, int maxDocumentBytes, boolean holdIncompleteLastLine, BadInputLog log,
                          LongConsumer bytesRead, BooleanSupplier stopRequested) {
        this.format = format;
        this.maxDocumentBytes = maxDocumentBytes > 0 ? maxDocumentBytes : Integer.MAX_VALUE - 8;
        this.holdIncompleteLastLine = holdIncompleteLastLine;
        this.log = log;
        this.bytesRead = bytesRead;
        this.stopRequested = stopRequested;
    }

    /** Reads every document of {@code source} into {@code sink}; {@code stdin} is read for {@code -} and not closed. */
    public Result read(InputSource source, InputStream stdin, Consumer<Document> sink) {
        return read(source, stdin, null, sink);
    }

    /**
     * Reads what was appended to the file {@code source} after the read that ended at {@code before}: the new lines
     * of JSON Lines (numbered on from the lines before), or the new text of a text file as a further document.
     */
    public Result readFrom(InputSource source, Result before, Consumer<Document> sink) {
        if (!before.canReadOn()) {
            throw new IllegalArgumentException(source.name() + " cannot be read on (gzip, or unreadable)");
        }
        return read(source, null, before, sink);
    }

    private Result read(InputSource source, InputStream stdin, Result before, Consumer<Document> sink) {
        long[] line = {before == null ? 0 : before.lines()};
        long startByte = before == null ? 0 : before.endByte();
        Result result = new Result(startByte, line[0], before == null ? format : before.format(), false);
        try (InputStream raw = source.isStdin() ? new NonClosing(stdin) : open(source.path(), startByte);
             Counting counted = new Counting(raw, bytesRead);
             BufferedInputStream buffered = new BufferedInputStream(counted, 1 << 16);
             InputStream in = before == null && isGzip(buffered, source.name())
                     ? new BufferedInputStream(new GZIPInputStream(buffered, 1 << 16), 1 << 16) : buffered) {
            boolean compressed = in != buffered;
            InputFormat sourceFormat = before != null ? before.format()
                    : format != InputFormat.AUTO ? format : InputFormat.fromName(source.name());
            if (sourceFormat == InputFormat.AUTO) {
                sourceFormat = sniff(in);
            }
            result = new Result(startByte, line[0], sourceFormat, compressed);
            long used;
            if (sourceFormat == InputFormat.JSONL) {
                used = readJsonLines(source.name(), in, sink, line, !compressed && holdIncompleteLastLine);
            } else {
                used = readText(source.name(), in, sink, startByte);
            }
            return new Result(compressed ? counted.total() : startByte + used, line[0], sourceFormat, compressed);
        } catch (IOException | UncheckedIOException e) { // a sink's own exceptions (e.g. Kafka) pass through
            log.report(BadInputKind.UNREADABLE_FILE, source.name(), line[0],
                    (line[0] > 0 ? "read stopped after this line: " : "") + e
                            + "; documents before it were kept, check the file (gunzip -t for .gz)");
            return Result.unreadable(line[0], result.format());
        }
    }

    private static InputStream open(Path file, long fromByte) throws IOException {
        if (fromByte == 0) {
            return Files.newInputStream(file);
        }
        FileChannel channel = FileChannel.open(file);
        channel.position(fromByte);
        return Channels.newInputStream(channel);
    }

    private static boolean isGzip(BufferedInputStream in, String name) throws IOException {
        in.mark(2);
        int b0 = in.read();
        int b1 = in.read();
        in.reset();
        return (b0 == GZIP_MAGIC_0 && b1 == GZIP_MAGIC_1) || name.toLowerCase(Locale.ROOT).endsWith(".gz");
    }

    /** JSON Lines when the first character that is not whitespace (or a byte-order mark) is '{', else text. */
    private static InputFormat sniff(InputStream in) throws IOException {
        in.mark(SNIFF_BYTES);
        try {
            for (int i = 0; i < SNIFF_BYTES; i++) {
                int b = in.read();
                if (b < 0) {
                    break;
                }
                if (b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == 0xEF || b == 0xBB || b == 0xBF) {
                    continue;
                }
                return b == '{' ? InputFormat.JSONL : InputFormat.TEXT;
            }
            return InputFormat.TEXT;
        } finally {
            in.reset();
        }
    }

    /** Reads the text document that starts at {@code startByte} of the source; returns the bytes read. */
    private long readText(String source, InputStream in, Consumer<Document> sink, long startByte) throws IOException {
        byte[] bytes = in.readNBytes(maxDocumentBytes + 1);
        if (bytes.length > maxDocumentBytes) {
            long size = bytes.length + in.transferTo(OutputStream.nullOutputStream());
            log.report(BadInputKind.DOCUMENT_TOO_LARGE, source, 0, (startByte > 0 ? "the text appended at byte "
                    + startByte + " is " : "the file is ") + size + " bytes, more than " + maxDocumentBytes
                    + " (max.document.bytes); raise max.document.bytes (0 = no limit) or split the file");
            return size;
        }
        String text;
        try {
            text = utf8.decode(bytes, 0, bytes.length);
        } catch (StrictUtf8.InvalidUtf8Exception e) {
            long line = 1 + countNewlines(bytes, e.byteOffset());
            log.report(BadInputKind.INVALID_UTF8, source, line, "byte " + (startByte + e.byteOffset())
                    + " of the file is not valid UTF-8; convert the file (e.g. iconv -f latin1 -t utf-8)");
            return bytes.length;
        }
        if (text.isBlank()) {
            if (startByte == 0) { // appended blank space (a last line end) is nothing to report
                log.report(BadInputKind.EMPTY_DOCUMENT, source, 0, "the file holds no text (" + bytes.length + " bytes)");
            }
            return bytes.length;
        }
        String id = startByte == 0 ? source : source + "@" + startByte;
        sink.accept(new Document(id, source, 0, text, Map.of()));
        return bytes.length;
    }

    /**
     * Reads JSON Lines; {@code line[0]} is the number of the line before the first and, after, of the last used.
     * Returns the bytes used: all, or up to a held last line.
     */
    private long readJsonLines(String source, InputStream in, Consumer<Document> sink, long[] line,
                               boolean holdIncomplete) throws IOException {
        ByteLineReader lines = new ByteLineReader(in, maxDocumentBytes);
        long first = line[0];
        while (!stopRequested.getAsBoolean() && lines.next()) {
            long number = first + lines.lineNumber();
            if (lines.overflowed()) {
                line[0] = number;
                log.report(BadInputKind.DOCUMENT_TOO_LARGE, source, number, "the line is " + lines.fullLength()
                        + " bytes, more than " + maxDocumentBytes + " (max.document.bytes); raise max.document.bytes"
                        + " (0 = no limit) or split the document");
                continue;
            }
            if (holdIncomplete && !lines.terminated() && !isWholeJson(lines.bytes(), lines.length())) {
                return lines.lineStart(); // still being written: read again when the file grows
            }
            line[0] = number;
            Document document = parseLine(source, number, lines.bytes(), lines.length());
            if (document != null) {
                sink.accept(document);
            }
        }
        return lines.consumed();
    }

    private boolean isWholeJson(byte[] bytes, int length) {
        try {
            json.readTree(bytes, 0, length);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** The document of one JSON Lines line, or null when the line is blank or bad (then reported). */
    Document parseLine(String source, long line, byte[] bytes, int length) {
        String text;
        try {
            text = utf8.decode(bytes, 0, length);
        } catch (StrictUtf8.InvalidUtf8Exception e) {
            log.report(BadInputKind.INVALID_UTF8, source, line, "byte " + (e.byteOffset() + 1)
                    + " of the line is not valid UTF-8; convert the file (e.g. iconv -f latin1 -t utf-8)");
            return null;
        }
        if (text.isBlank()) {
            return null; // blank lines separate nothing in JSON Lines; a trailing one is common
        }
        JsonNode node;
        try {
            node = json.readTree(text);
        } catch (JsonProcessingException e) {
            String message = e.getOriginalMessage();
            int parserContext = message.indexOf(" (start marker at");
            log.report(BadInputKind.INVALID_JSON, source, line, (parserContext > 0 ? message.substring(0, parserContext)
                    : message) + " (column " + e.getLocation().getColumnNr() + ")");
            return null;
        }
        if (!node.isObject()) {
            log.report(BadInputKind.INVALID_JSON, source, line,
                    "expected a JSON object with a \"text\" field, found " + node.getNodeType().name().toLowerCase(Locale.ROOT));
            return null;
        }
        JsonNode textNode = node.get("text");
        if (textNode == null || textNode.isNull()) {
            log.report(BadInputKind.MISSING_TEXT, source, line, "no \"text\" field; fields are " + fieldNames(node));
            return null;
        }
        if (!textNode.isTextual()) {
            log.report(BadInputKind.MISSING_TEXT, source, line,
                    "\"text\" is a " + textNode.getNodeType().name().toLowerCase(Locale.ROOT) + ", not a string");
            return null;
        }
        String documentText = textNode.textValue();
        if (documentText.isBlank()) {
            log.report(BadInputKind.EMPTY_DOCUMENT, source, line, "\"text\" is empty or only whitespace");
            return null;
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : node.properties()) {
            if (!field.getKey().equals("text")) {
                JsonNode value = field.getValue();
                metadata.put(field.getKey(), value.isValueNode() ? value.asText() : value.toString());
            }
        }
        JsonNode idNode = node.get("id");
        String id = idNode != null && idNode.isValueNode() && !idNode.isNull() ? idNode.asText() : source + ":" + line;
        return new Document(id, source, line, documentText, metadata);
    }

    private static String fieldNames(JsonNode node) {
        StringBuilder names = new StringBuilder("[");
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            names.append(it.next()).append(it.hasNext() ? ", " : "");
        }
        return names.append(']').toString();
    }

    private static long countNewlines(byte[] bytes, int end) {
        long count = 0;
        for (int i = 0; i < end; i++) {
            if (bytes[i] == '\n') {
                count++;
            }
        }
        return count;
    }

    /** Reports the raw bytes read through it, and counts them. */
    private static final class Counting extends FilterInputStream {
        private final LongConsumer bytesRead;
        private long total;

        Counting(InputStream in, LongConsumer bytesRead) {
            super(in);
            this.bytesRead = bytesRead;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                bytesRead.accept(1);
                total++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                bytesRead.accept(n);
                total += n;
            }
            return n;
        }

        long total() {
            return total;
        }
    }

    /** Standard input stays open for whoever owns it. */
    private static final class NonClosing extends FilterInputStream {
        NonClosing(InputStream in) {
            super(in);
        }

        @Override
        public void close() {}
    }
}
