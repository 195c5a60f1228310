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
import java.io.UncheckedIOException;
import java.nio.file.Files;
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
 * reported to the {@link BadInputLog} with source and line and skipped; good documents go on. Not thread-safe:
 * one reader per reading thread.
 */
public final class DocumentReader {
    private static final int GZIP_MAGIC_0 = 0x1f;
    private static final int GZIP_MAGIC_1 = 0x8b;
    private static final int SNIFF_BYTES = 4096;

    private final InputFormat format;
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
        this.format = format;
        this.log = log;
        this.bytesRead = bytesRead;
        this.stopRequested = stopRequested;
    }

    /** Reads every document of {@code source} into {@code sink}; {@code stdin} is read for {@code -} and not closed. */
    public void read(InputSource source, InputStream stdin, Consumer<Document> sink) {
        long[] line = {0};
        try (InputStream raw = source.isStdin() ? new NonClosing(stdin) : Files.newInputStream(source.path());
             InputStream in = decompressed(new Counting(raw, bytesRead), source.name())) {
            InputFormat sourceFormat = format != InputFormat.AUTO ? format : InputFormat.fromName(source.name());
            if (sourceFormat == InputFormat.AUTO) {
                sourceFormat = sniff(in);
            }
            if (sourceFormat == InputFormat.JSONL) {
                readJsonLines(source.name(), in, sink, line);
            } else {
                readText(source.name(), in, sink);
            }
        } catch (IOException | UncheckedIOException e) { // a sink's own exceptions (e.g. Kafka) pass through
            log.report(BadInputKind.UNREADABLE_FILE, source.name(), line[0],
                    (line[0] > 0 ? "read stopped after this line: " : "") + e
                            + "; documents before it were kept, check the file (gunzip -t for .gz)");
        }
    }

    private static InputStream decompressed(InputStream raw, String name) throws IOException {
        BufferedInputStream in = new BufferedInputStream(raw, 1 << 16);
        in.mark(2);
        int b0 = in.read();
        int b1 = in.read();
        in.reset();
        if ((b0 == GZIP_MAGIC_0 && b1 == GZIP_MAGIC_1) || name.toLowerCase(Locale.ROOT).endsWith(".gz")) {
            return new BufferedInputStream(new GZIPInputStream(in, 1 << 16), 1 << 16);
        }
        return in;
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

    private void readText(String source, InputStream in, Consumer<Document> sink) throws IOException {
        byte[] bytes = in.readAllBytes();
        String text;
        try {
            text = utf8.decode(bytes, 0, bytes.length);
        } catch (StrictUtf8.InvalidUtf8Exception e) {
            long line = 1 + countNewlines(bytes, e.byteOffset());
            log.report(BadInputKind.INVALID_UTF8, source, line, "byte " + e.byteOffset()
                    + " of the file is not valid UTF-8; convert the file (e.g. iconv -f latin1 -t utf-8)");
            return;
        }
        if (text.isBlank()) {
            log.report(BadInputKind.EMPTY_DOCUMENT, source, 0, "the file holds no text (" + bytes.length + " bytes)");
            return;
        }
        sink.accept(new Document(source, source, 0, text, Map.of()));
    }

    private void readJsonLines(String source, InputStream in, Consumer<Document> sink, long[] line)
            throws IOException {
        ByteLineReader lines = new ByteLineReader(in);
        while (!stopRequested.getAsBoolean() && lines.next()) {
            line[0] = lines.lineNumber();
            Document document = parseLine(source, lines.lineNumber(), lines.bytes(), lines.length());
            if (document != null) {
                sink.accept(document);
            }
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

    /** Reports the raw bytes read through it. */
    private static final class Counting extends FilterInputStream {
        private final LongConsumer bytesRead;

        Counting(InputStream in, LongConsumer bytesRead) {
            super(in);
            this.bytesRead = bytesRead;
        }

        @Override
        public int read() throws IOException {
            int b = in.read();
            if (b >= 0) {
                bytesRead.accept(1);
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) {
                bytesRead.accept(n);
            }
            return n;
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
