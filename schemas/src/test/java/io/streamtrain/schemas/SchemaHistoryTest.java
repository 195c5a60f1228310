package io.streamtrain.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import io.streamtrain.schemas.internal.SchemaHistory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.serialization.Serde;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every released schema version stays readable by the current classes; the current schema is released. */
class SchemaHistoryTest {

    static Stream<Arguments> records() {
        return Stream.of(
                Arguments.of("TokenBatch", TokenBatch.getClassSchema(), AvroSerdes.tokenBatch()),
                Arguments.of("TrainingMetrics", TrainingMetrics.getClassSchema(), AvroSerdes.trainingMetrics()),
                Arguments.of("TextSample", TextSample.getClassSchema(), AvroSerdes.textSample()),
                Arguments.of("ModelAnnouncement", ModelAnnouncement.getClassSchema(), AvroSerdes.modelAnnouncement()));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("records")
    void shouldReadEveryReleasedVersionWithTheCurrentSchema(String recordName, Schema current, Serde<?> serde) {
        List<Schema> history = SchemaHistory.load(recordName);
        for (int version = 1; version <= history.size(); version++) {
            var compatibility = SchemaCompatibility.checkReaderWriterCompatibility(current, history.get(version - 1));
            assertEquals(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE, compatibility.getType(),
                    recordName + " v" + version + " cannot be read by the current schema: "
                            + compatibility.getResult().getIncompatibilities());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("records")
    void shouldReleaseTheCurrentSchemaAsTheLatestHistoryVersion(String recordName, Schema current, Serde<?> serde) {
        List<Schema> history = SchemaHistory.load(recordName);
        Schema latest = history.get(history.size() - 1);
        assertEquals(SchemaNormalization.parsingFingerprint64(current), SchemaNormalization.parsingFingerprint64(latest),
                recordName + " changed since its last release: copy schemas/src/main/avro/" + recordName + ".avsc to "
                        + "schemas/src/main/avro-history/" + recordName + "/v" + (history.size() + 1) + ".avsc");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("records")
    void shouldDecodeARecordWrittenWithEveryReleasedVersion(String recordName, Schema current, Serde<?> serde) {
        List<Schema> history = SchemaHistory.load(recordName);
        for (int version = 1; version <= history.size(); version++) {
            Schema writer = history.get(version - 1);
            GenericRecord written = (GenericRecord) sample(writer);
            Object decoded = serde.deserializer().deserialize("t", AvroSerdesTest.encode(writer, written));
            assertNotNull(decoded, recordName + " v" + version);
            // Every field the old version wrote reads back with the same value (timestamps as Instant millis).
            GenericRecord read = (GenericRecord) decoded;
            for (Schema.Field field : writer.getFields()) {
                if (current.getField(field.name()) != null && field.schema().getType() != Schema.Type.RECORD
                        && field.schema().getType() != Schema.Type.ARRAY) {
                    assertEquals(plain(written.get(field.name())), plain(read.get(field.name())),
                            recordName + " v" + version + " field " + field.name());
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("records")
    void shouldLetAReaderOfEveryReleasedVersionReadWhatTheCurrentSchemaWrites(String recordName, Schema current,
                                                                              Serde<?> serde) throws Exception {
        List<Schema> history = SchemaHistory.load(recordName);
        GenericRecord written = (GenericRecord) sample(current);
        for (int version = 1; version <= history.size(); version++) {
            Schema oldReader = history.get(version - 1);
            var compatibility = SchemaCompatibility.checkReaderWriterCompatibility(oldReader, current);
            assertEquals(SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE, compatibility.getType(),
                    "a reader of " + recordName + " v" + version + " cannot read the current schema: "
                            + compatibility.getResult().getIncompatibilities());
            // An old reader that knows the writer's schema (single-object encoding names it by fingerprint) decodes
            // the current bytes into its own fields, the new ones ignored.
            org.apache.avro.message.SchemaStore.Cache store = new org.apache.avro.message.SchemaStore.Cache();
            store.addSchema(current);
            GenericRecord read = new org.apache.avro.message.BinaryMessageDecoder<GenericRecord>(GenericData.get(),
                    oldReader, store).decode(AvroSerdesTest.encode(current, written));
            for (Schema.Field field : oldReader.getFields()) {
                if (field.schema().getType() != Schema.Type.RECORD && field.schema().getType() != Schema.Type.ARRAY) {
                    assertEquals(plain(written.get(field.name())), plain(read.get(field.name())),
                            "a " + recordName + " v" + version + " reader, field " + field.name());
                }
            }
        }
    }

    /** A value of every field of {@code schema}, distinct per field. */
    private static Object sample(Schema schema) {
        return switch (schema.getType()) {
            case RECORD -> {
                GenericRecord record = new GenericData.Record(schema);
                for (Schema.Field field : schema.getFields()) {
                    record.put(field.name(), sample(field.schema()));
                }
                yield record;
            }
            case ARRAY -> {
                List<Object> items = new ArrayList<>();
                items.add(sample(schema.getElementType()));
                items.add(sample(schema.getElementType()));
                yield new GenericData.Array<>(schema, items);
            }
            case MAP -> java.util.Map.of("key of " + schema.getValueType().getFullName(), sample(schema.getValueType()));
            case STRING -> "text of " + schema.getFullName() + " \u03bb";
            case LONG -> 1_790_000_000_123L;
            case INT -> 17;
            case DOUBLE -> 2.5;
            case BOOLEAN -> true;
            case BYTES -> ByteBuffer.wrap(new byte[] {1, 2, 3, 4});
            case ENUM -> new GenericData.EnumSymbol(schema, schema.getEnumSymbols().get(schema.getEnumSymbols().size() - 1));
            case UNION -> sample(schema.getTypes().get(schema.getTypes().size() - 1)); // the non-null branch
            default -> throw new IllegalArgumentException("add a sample for Avro type " + schema.getType());
        };
    }

    /** Logical-type values as their plain Avro form, so generic and specific values compare. */
    private static Object plain(Object value) {
        if (value instanceof org.apache.avro.util.Utf8 utf8) {
            return utf8.toString();
        }
        return value instanceof java.time.Instant instant ? instant.toEpochMilli() : value;
    }
}
