package io.streamtrain.schemas;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.api.Test;

class AvroSerdesTest {
    private static final String TOPIC = "test-topic";

    private static <T> T roundTrip(Serde<T> serde, T record) {
        byte[] bytes = serde.serializer().serialize(TOPIC, record);
        assertEquals((byte) 0xC3, bytes[0], "single-object marker, first byte");
        assertEquals((byte) 0x01, bytes[1], "single-object marker, second byte");
        return serde.deserializer().deserialize(TOPIC, bytes);
    }

    @Test
    void shouldRoundTripTokenBatchWithItsTokenIds() {
        TokenBatch batch = Records.tokenBatch();
        TokenBatch decoded = roundTrip(AvroSerdes.tokenBatch(), batch);
        assertEquals(batch, decoded);
        assertArrayEquals(new int[] {50256, 15496, 995, 0, 1, 2, 3, 50255}, TokenIds.decode(decoded.getTokens()));
        assertEquals(Records.TIME, decoded.getCreatedAt());
    }

    @Test
    void theTrainersDeserializerBuildsTheTrainingFieldsAndSkipsTheDocuments() {
        TokenBatch batch = Records.tokenBatch();
        byte[] bytes = AvroSerdes.tokenBatch().serializer().serialize(TOPIC, batch);
        TokenBatch read = AvroSerdes.tokenBatchForTraining().deserialize(TOPIC, bytes);
        assertEquals(batch.getDataset(), read.getDataset());
        assertEquals(batch.getSequence(), read.getSequence());
        assertEquals(batch.getTokenizer(), read.getTokenizer());
        assertEquals(batch.getRows(), read.getRows());
        assertEquals(batch.getSequenceLength(), read.getSequenceLength());
        assertArrayEquals(TokenIds.decode(batch.getTokens()), TokenIds.decode(read.getTokens()));
        assertNull(read.getDocuments(), "documents are skipped, not built");
        assertNull(read.getCreatedAt());
        assertThrows(SerializationException.class, () -> AvroSerdes.tokenBatchForTraining().deserialize(TOPIC,
                Arrays.copyOf(bytes, bytes.length - 20)), "a truncated record still fails");
    }

    @Test
    void shouldRoundTripTrainingMetrics() {
        assertEquals(Records.trainingMetrics(), roundTrip(AvroSerdes.trainingMetrics(), Records.trainingMetrics()));
    }

    @Test
    void shouldRoundTripTextSampleWithEmojiAndCjk() {
        TextSample decoded = roundTrip(AvroSerdes.textSample(), Records.textSample());
        assertEquals(Records.textSample(), decoded);
        assertEquals(" But soft, what light \uD83C\uDF39 光", decoded.getGenerated());
    }

    @Test
    void shouldKeepNullAsNullForTombstones() {
        assertNull(AvroSerdes.tokenBatch().serializer().serialize(TOPIC, null));
        assertNull(AvroSerdes.tokenBatch().deserializer().deserialize(TOPIC, null));
    }

    @Test
    void shouldSayNotSingleObjectAvroWhenBytesLackTheMarker() {
        byte[] json = "{\"dataset\": \"x\", \"sequence\": 1}".getBytes(StandardCharsets.UTF_8);
        SerializationException e = assertThrows(SerializationException.class,
                () -> AvroSerdes.tokenBatch().deserializer().deserialize(TOPIC, json));
        assertTrue(e.getMessage().startsWith("not Avro single-object encoding"), e.getMessage());
        assertTrue(e.getMessage().contains("TokenBatch") && e.getMessage().contains(TOPIC)
                && e.getMessage().contains("0x7B 0x22"), e.getMessage());
    }

    @Test
    void shouldSayNotSingleObjectAvroWhenBytesAreShorterThanTheHeader() {
        SerializationException e = assertThrows(SerializationException.class,
                () -> AvroSerdes.trainingMetrics().deserializer().deserialize(TOPIC, new byte[] {(byte) 0xC3, 1, 2}));
        assertTrue(e.getMessage().startsWith("not Avro single-object encoding"), e.getMessage());
        assertTrue(e.getMessage().contains("only 3 bytes"), e.getMessage());
    }

    @Test
    void shouldSayUnknownFingerprintWhenWrittenWithAnUnreleasedSchema() {
        // A newer writer: TokenBatch with one more field, a schema this reader has never seen released.
        Schema current = TokenBatch.getClassSchema();
        Schema newer = SchemaBuilder.record("TokenBatch").namespace(current.getNamespace()).fields()
                .requiredString("dataset").requiredLong("sequence").requiredString("compression").endRecord();
        GenericRecord record = new GenericData.Record(newer);
        record.put("dataset", "d");
        record.put("sequence", 1L);
        record.put("compression", "none");
        byte[] bytes = encode(newer, record);
        SerializationException e = assertThrows(SerializationException.class,
                () -> AvroSerdes.tokenBatch().deserializer().deserialize(TOPIC, bytes));
        assertTrue(e.getMessage().startsWith("unknown schema fingerprint"), e.getMessage());
        assertTrue(e.getMessage().contains("known: v1 "), e.getMessage());
    }

    @Test
    void shouldSayCorruptWhenTheBodyIsTruncated() {
        byte[] bytes = AvroSerdes.textSample().serializer().serialize(TOPIC, Records.textSample());
        byte[] truncated = Arrays.copyOf(bytes, 14);
        SerializationException e = assertThrows(SerializationException.class,
                () -> AvroSerdes.textSample().deserializer().deserialize(TOPIC, truncated));
        assertTrue(e.getMessage().startsWith("corrupt TextSample record"), e.getMessage());
    }

    @Test
    void shouldSayWhichFieldIsMissingWhenSerializingAnIncompleteRecord() {
        TrainingMetrics incomplete = Records.trainingMetrics();
        incomplete.setRunId(null);
        SerializationException e = assertThrows(SerializationException.class,
                () -> AvroSerdes.trainingMetrics().serializer().serialize(TOPIC, incomplete));
        assertTrue(e.getMessage().contains("TrainingMetrics") && e.getMessage().contains("runId"), e.getMessage());
    }

    static byte[] encode(Schema writer, GenericRecord record) {
        try {
            ByteBuffer buffer = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), writer).encode(record);
            byte[] bytes = new byte[buffer.remaining()];
            buffer.get(bytes);
            return bytes;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
