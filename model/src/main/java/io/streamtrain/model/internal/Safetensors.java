package io.streamtrain.model.internal;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.streamtrain.model.CheckpointException;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The safetensors file format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length n, n bytes of JSON header, then the raw little-endian data section. The header maps
 * each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * data section) and {@code "__metadata__"} to a string-to-string map.
 *
 * <p>Our writer adds {@value #CRC_KEY} (CRC32C of the data section, 8 hex digits) to the metadata and
 * writes atomically: a temp file in the same directory, {@link FileChannel#force}, an atomic rename and
 * an fsync of the directory, so that a crash leaves either the old file or the new one.
 */
public final class Safetensors {

    /** Metadata key of the data section's CRC32C. */
    public static final String CRC_KEY = "data_crc32c";
    public static final String F32 = "F32";
    public static final String I32 = "I32";
    private static final String METADATA = "__metadata__";
    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final int CHUNK_BYTES = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private Safetensors() {
    }

    /** A tensor's place in the data section. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** A tensor to write: {@code elements()} values of {@code floats} (or {@code ints}) from {@code offset}. */
    public record Source(String name, long[] shape, float[] floats, int[] ints, int offset) {
        public static Source floats(String name, long[] shape, float[] data, int offset) {
            return new Source(name, shape, data, null, offset);
        }

        public static Source ints(String name, long[] shape, int[] data, int offset) {
            return new Source(name, shape, null, data, offset);
        }

        public String dtype() {
            return floats != null ? F32 : I32;
        }

        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    // ---- writing ---------------------------------------------------------------------------------

    /** Writes {@code tensors} (data in list order) and {@code metadata} plus the data CRC, atomically. */
    public static void write(Path path, Map<String, String> metadata, List<Source> tensors) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C crc = new CRC32C();
        for (Source source : tensors) {
            encode(source, chunk, buffer -> crc.update(buffer));
        }
        ObjectNode header = JSON.createObjectNode();
        ObjectNode meta = header.putObject(METADATA);
        metadata.forEach(meta::put);
        meta.put(CRC_KEY, String.format("%08x", crc.getValue()));
        long offset = 0;
        for (Source source : tensors) {
            ObjectNode entry = header.putObject(source.name());
            entry.put("dtype", source.dtype());
            var shape = entry.putArray("shape");
            for (long d : source.shape()) {
                shape.add(d);
            }
            long bytes = 4 * source.elements();
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8; // data section 8-byte aligned, padded with spaces as the spec allows
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path absolute = path.toAbsolutePath();
        Path directory = absolute.getParent();
        Files.createDirectories(directory);
        // not Files.createTempFile: its 0600 permissions would survive the rename; this one gets the umask's
        Path temp = directory.resolve("." + absolute.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE_NEW)) {
                writeFully(channel, head);
                for (Source source : tensors) {
                    encode(source, chunk, buffer -> writeFully(channel, buffer));
                }
                channel.force(true);
            }
            try {
                Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot write " + absolute + " atomically: the file system of " + directory
                        + " does not support atomic renames", e);
            }
        } finally {
            Files.deleteIfExists(temp);
        }
        syncDirectory(directory);
    }

    private interface ChunkConsumer {
        void accept(ByteBuffer buffer) throws IOException;
    }

    /** Little-endian bytes of {@code source}, one chunk at a time. */
    private static void encode(Source source, ByteBuffer chunk, ChunkConsumer consumer) throws IOException {
        long remaining = source.elements();
        int position = source.offset();
        while (remaining > 0) {
            int count = (int) Math.min(remaining, CHUNK_BYTES / 4);
            chunk.clear();
            if (source.floats() != null) {
                chunk.asFloatBuffer().put(source.floats(), position, count);
            } else {
                chunk.asIntBuffer().put(source.ints(), position, count);
            }
            chunk.limit(4 * count);
            consumer.accept(chunk);
            position += count;
            remaining -= count;
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /** Makes the rename durable; some platforms (Windows) cannot open a directory, and need not. */
    private static void syncDirectory(Path directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            if (!System.getProperty("os.name", "").toLowerCase().contains("win")) {
                throw e instanceof IOException io ? io
                        : new IOException("cannot fsync directory " + directory, e);
            }
        }
    }

    // ---- reading ---------------------------------------------------------------------------------

    /** Opens and validates a safetensors file: header, offsets, and the data CRC where the header records one. */
    public static Reader open(Path path) throws IOException {
        return new Reader(path);
    }

    /** A validated safetensors file, open for reading tensors. */
    public static final class Reader implements Closeable {
        private final Path path;
        private final FileChannel channel;
        private final Map<String, String> metadata = new LinkedHashMap<>();
        private final Map<String, Entry> entries = new LinkedHashMap<>();
        private final long dataStart;

        private Reader(Path path) throws IOException {
            this.path = path;
            this.channel = FileChannel.open(path, StandardOpenOption.READ);
            try {
                long fileSize = channel.size();
                if (fileSize < 8) {
                    throw problem("the file has " + fileSize + " bytes, fewer than the 8-byte header length: "
                            + "it is truncated or not a safetensors file");
                }
                ByteBuffer lengthBytes = readAt(0, 8);
                long headerLength = lengthBytes.order(ByteOrder.LITTLE_ENDIAN).getLong();
                if (headerLength <= 0 || headerLength > fileSize - 8 || headerLength > MAX_HEADER_BYTES) {
                    throw problem("the header length in the first 8 bytes is " + headerLength + " but the file has "
                            + fileSize + " bytes: it is truncated or not a safetensors file");
                }
                dataStart = 8 + headerLength;
                byte[] json = new byte[(int) headerLength];
                readAt(8, (int) headerLength).get(json);
                parseHeader(json, fileSize - dataStart);
                String recorded = metadata.get(CRC_KEY);
                if (recorded != null) {
                    String actual = String.format("%08x", dataCrc(fileSize - dataStart));
                    if (!actual.equalsIgnoreCase(recorded)) {
                        throw problem("the data section's CRC32C is " + actual + " but the header records " + recorded
                                + ": the file is corrupted; use another checkpoint");
                    }
                }
            } catch (IOException | RuntimeException e) {
                channel.close();
                throw e;
            }
        }

        private void parseHeader(byte[] json, long dataSize) throws CheckpointException {
            JsonNode root;
            try {
                root = JSON.readTree(json);
            } catch (JsonProcessingException e) {
                throw problem("the header is not valid JSON (" + e.getOriginalMessage() + "): the file is corrupted");
            } catch (IOException e) {
                throw problem("the header cannot be parsed: " + e.getMessage());
            }
            if (root == null || !root.isObject()) {
                throw problem("the header is not a JSON object: the file is corrupted");
            }
            for (Map.Entry<String, JsonNode> field : root.properties()) {
                if (field.getKey().equals(METADATA)) {
                    parseMetadata(field.getValue());
                } else {
                    Entry entry = parseEntry(field.getKey(), field.getValue(), dataSize);
                    entries.put(entry.name(), entry);
                }
            }
            List<Entry> byOffset = new ArrayList<>(entries.values());
            byOffset.sort(Comparator.comparingLong(Entry::begin));
            long covered = 0;
            for (Entry entry : byOffset) {
                if (entry.begin() != covered) {
                    throw problem("tensor '" + entry.name() + "' starts at data byte " + entry.begin()
                            + " but the previous tensor ends at " + covered
                            + ": tensors must tile the data section; the file is corrupted");
                }
                covered = entry.end();
            }
            if (covered != dataSize) {
                throw problem("the tensors cover " + covered + " data bytes but the file has " + dataSize
                        + " after the header: the file is corrupted");
            }
        }

        private void parseMetadata(JsonNode node) throws CheckpointException {
            if (!node.isObject()) {
                throw problem("__metadata__ is not a JSON object");
            }
            for (Map.Entry<String, JsonNode> field : node.properties()) {
                if (!field.getValue().isTextual()) {
                    throw problem("__metadata__ value of '" + field.getKey() + "' is not a string");
                }
                metadata.put(field.getKey(), field.getValue().textValue());
            }
        }

        private Entry parseEntry(String name, JsonNode node, long dataSize) throws CheckpointException {
            String where = "tensor '" + name + "': ";
            if (!node.isObject() || !node.path("dtype").isTextual() || !node.path("shape").isArray()
                    || !node.path("data_offsets").isArray() || node.path("data_offsets").size() != 2) {
                throw problem(where + "expected {\"dtype\", \"shape\", \"data_offsets\": [begin, end]}, got " + node);
            }
            String dtype = node.get("dtype").textValue();
            if (!dtype.equals(F32) && !dtype.equals(I32)) {
                throw problem(where + "dtype " + dtype + " is not supported (only F32 and I32)");
            }
            long[] shape = new long[node.get("shape").size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                JsonNode d = node.get("shape").get(i);
                if (!d.canConvertToLong() || d.longValue() < 0) {
                    throw problem(where + "shape " + node.get("shape") + " is not a list of non-negative integers");
                }
                shape[i] = d.longValue();
                elements = Math.multiplyExact(elements, shape[i]);
            }
            JsonNode offsets = node.get("data_offsets");
            if (!offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
                throw problem(where + "data_offsets " + offsets + " are not integers");
            }
            long begin = offsets.get(0).longValue();
            long end = offsets.get(1).longValue();
            if (begin < 0 || end < begin) {
                throw problem(where + "data_offsets " + offsets + " are not an ascending pair of non-negative integers");
            }
            if (end - begin != 4 * elements) {
                throw problem(where + "data_offsets " + offsets + " span " + (end - begin) + " bytes but dtype "
                        + dtype + " and shape " + Arrays.toString(shape) + " need " + 4 * elements);
            }
            if (end > dataSize) {
                throw problem(where + "ends at data byte " + end + " but the file holds only " + dataSize
                        + " data bytes: the file is truncated");
            }
            return new Entry(name, dtype, shape, begin, end);
        }

        private long dataCrc(long dataSize) throws IOException {
            CRC32C crc = new CRC32C();
            ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES);
            for (long position = 0; position < dataSize; ) {
                chunk.clear();
                chunk.limit((int) Math.min(CHUNK_BYTES, dataSize - position));
                readFully(dataStart + position, chunk);
                chunk.flip();
                position += chunk.remaining();
                crc.update(chunk);
            }
            return crc.getValue();
        }

        private ByteBuffer readAt(long position, int length) throws IOException {
            ByteBuffer buffer = ByteBuffer.allocate(length);
            readFully(position, buffer);
            return buffer.flip();
        }

        private void readFully(long position, ByteBuffer buffer) throws IOException {
            while (buffer.hasRemaining()) {
                int n = channel.read(buffer, position);
                if (n < 0) {
                    throw problem("unexpected end of file at byte " + position + ": the file is truncated");
                }
                position += n;
            }
        }

        public Path path() {
            return path;
        }

        /** The {@code __metadata__} strings, in file order. */
        public Map<String, String> metadata() {
            return Collections.unmodifiableMap(metadata);
        }

        /** The tensors, in header order. */
        public Map<String, Entry> entries() {
            return Collections.unmodifiableMap(entries);
        }

        /** The named tensor, checked to have this dtype and shape. */
        public Entry entry(String name, String dtype, long... shape) throws CheckpointException {
            Entry entry = entries.get(name);
            if (entry == null) {
                throw problem("tensor '" + name + "' is missing");
            }
            if (!entry.dtype().equals(dtype) || !Arrays.equals(entry.shape(), shape)) {
                throw problem("tensor '" + name + "' is " + entry.dtype() + " " + Arrays.toString(entry.shape())
                        + ", expected " + dtype + " " + Arrays.toString(shape));
            }
            return entry;
        }

        /** Copies an F32 tensor into {@code dst[dstOffset..]}. */
        public void readFloats(Entry entry, float[] dst, int dstOffset) throws IOException {
            requireDtype(entry, F32);
            ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (long position = entry.begin(); position < entry.end(); ) {
                chunk.clear();
                chunk.limit((int) Math.min(CHUNK_BYTES, entry.end() - position));
                readFully(dataStart + position, chunk);
                chunk.flip();
                int count = chunk.remaining() / 4;
                chunk.asFloatBuffer().get(dst, dstOffset, count);
                dstOffset += count;
                position += 4L * count;
            }
        }

        /** An F32 tensor as a new array. */
        public float[] readFloats(Entry entry) throws IOException {
            float[] values = new float[Math.toIntExact(entry.elements())];
            readFloats(entry, values, 0);
            return values;
        }

        /** An I32 tensor as a new array. */
        public int[] readInts(Entry entry) throws IOException {
            requireDtype(entry, I32);
            ByteBuffer bytes = readAt(dataStart + entry.begin(), Math.toIntExact(entry.end() - entry.begin()));
            int[] values = new int[Math.toIntExact(entry.elements())];
            bytes.order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(values);
            return values;
        }

        private void requireDtype(Entry entry, String dtype) throws CheckpointException {
            if (!entry.dtype().equals(dtype)) {
                throw problem("tensor '" + entry.name() + "' is " + entry.dtype() + ", expected " + dtype);
            }
        }

        /** An error about this file. */
        public CheckpointException problem(String what) {
            return new CheckpointException(path, what);
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
