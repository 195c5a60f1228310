package io.streamtrain.schemas.internal;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.avro.Schema;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.message.SchemaStore;
import org.apache.avro.util.ClassSecurityValidator;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/**
 * A Kafka serde for one generated record class in Avro single-object encoding: the marker {@code C3 01}, the
 * writer schema's 8-byte fingerprint (little-endian), then the Avro binary body. Records are written with the current
 * schema and read with the current class from any released version in {@link SchemaHistory}. Both sides are
 * thread-safe (Avro keeps its buffers per thread), so one instance serves every stream thread. Null stays null
 * (tombstones).
 */
public final class SingleObjectSerde {
    private static final int HEADER_BYTES = 10; // marker (2) + fingerprint (8)

    private SingleObjectSerde() {}

    /**
     * @param recordName the record's simple name; its history lives under {@code avro-history/<recordName>}
     * @param currentSchema the schema of the generated class (its {@code getClassSchema()})
     * @param encoder the generated class's {@code getEncoder()}
     * @param decoderFactory the generated class's {@code createDecoder(SchemaStore)}
     */
    public static <T> Serde<T> create(String recordName, Schema currentSchema, BinaryMessageEncoder<T> encoder,
                                      Function<SchemaStore, BinaryMessageDecoder<T>> decoderFactory) {
        trustGeneratedClasses(currentSchema);
        List<Schema> history = SchemaHistory.load(recordName);
        SchemaStore.Cache released = new SchemaStore.Cache();
        history.forEach(released::addSchema);
        BinaryMessageDecoder<T> decoder = decoderFactory.apply(released);
        String known = IntStream.range(0, history.size())
                .mapToObj(i -> "v" + (i + 1) + " " + SchemaHistory.fingerprintHex(history.get(i)))
                .collect(Collectors.joining(", "))
                + ", current " + SchemaHistory.fingerprintHex(currentSchema);
        Serializer<T> serializer = (topic, record) -> record == null ? null : encode(encoder, record, recordName, topic);
        Deserializer<T> deserializer = (topic, bytes) -> bytes == null ? null
                : decode(decoder, bytes, recordName, topic, known);
        return Serdes.serdeFrom(serializer, deserializer);
    }

    /**
     * {@code schema} (a record) cut before its field {@code firstSkipped}: a reader schema that builds the generated
     * class of {@code schema} with the leading fields only (their positions are unchanged) while Avro's schema
     * resolution skips the rest of the writer's fields in the stream without building them.
     */
    public static Schema leadingFields(Schema schema, String firstSkipped) {
        List<Schema.Field> kept = new ArrayList<>();
        for (Schema.Field field : schema.getFields()) {
            if (field.name().equals(firstSkipped)) {
                break;
            }
            kept.add(new Schema.Field(field, field.schema()));
        }
        if (kept.size() == schema.getFields().size()) {
            throw new IllegalArgumentException(schema.getFullName() + " has no field " + firstSkipped);
        }
        return Schema.createRecord(schema.getName(), schema.getDoc(), schema.getNamespace(), false, kept);
    }

    /**
     * Avro 1.12 instantiates only trusted classes when it resolves a writer schema against a reader class
     * ({@code ClassSecurityValidator}); trust the generated classes of {@code schema}'s records, keeping whatever else
     * is trusted (defaults and the {@code org.apache.avro.SERIALIZABLE_*} system properties).
     */
    private static synchronized void trustGeneratedClasses(Schema schema) {
        ClassSecurityValidator.Builder trusted = ClassSecurityValidator.builder();
        recordNames(schema, new LinkedHashSet<>()).forEach(trusted::add);
        ClassSecurityValidator.setGlobal(ClassSecurityValidator.composite(ClassSecurityValidator.getGlobal(),
                trusted.build()));
    }

    /** Full names of the records in {@code schema}, itself included. */
    private static Set<String> recordNames(Schema schema, Set<String> names) {
        switch (schema.getType()) {
            case RECORD -> {
                if (names.add(schema.getFullName())) {
                    schema.getFields().forEach(field -> recordNames(field.schema(), names));
                }
            }
            case ARRAY -> recordNames(schema.getElementType(), names);
            case MAP -> recordNames(schema.getValueType(), names);
            case UNION -> schema.getTypes().forEach(type -> recordNames(type, names));
            default -> { }
        }
        return names;
    }

    private static <T> byte[] encode(BinaryMessageEncoder<T> encoder, T record, String recordName, String topic) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try {
            encoder.encode(record, out);
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("cannot serialize " + recordName + " for topic " + topic
                    + ": " + e.getMessage() + " (a required field is null or has the wrong type?)", e);
        }
        return out.toByteArray();
    }

    private static <T> T decode(BinaryMessageDecoder<T> decoder, byte[] bytes, String recordName, String topic,
                                String known) {
        try {
            return decoder.decode(bytes);
        } catch (BadHeaderException e) {
            throw new SerializationException(notSingleObjectMessage(bytes, recordName, topic), e);
        } catch (MissingSchemaException e) {
            throw new SerializationException("unknown schema fingerprint " + fingerprintOf(bytes) + " in a "
                    + recordName + " record of topic " + topic + " (" + bytes.length + " bytes): it was written with a"
                    + " schema version this reader does not know (known: " + known + "); upgrade the reader, or"
                    + " release the writer's schema under schemas/src/main/avro-history/" + recordName, e);
        } catch (IOException | RuntimeException e) {
            throw new SerializationException("corrupt " + recordName + " record of topic " + topic + " ("
                    + bytes.length + " bytes, schema fingerprint " + fingerprintOf(bytes) + "): the body does not match"
                    + " its schema: " + e, e);
        }
    }

    private static String notSingleObjectMessage(byte[] bytes, String recordName, String topic) {
        String start = IntStream.range(0, Math.min(bytes.length, 2))
                .mapToObj(i -> String.format("0x%02X", bytes[i] & 0xff))
                .collect(Collectors.joining(" "));
        String found = bytes.length < HEADER_BYTES
                ? "only " + bytes.length + " bytes" + (bytes.length == 0 ? "" : " starting " + start)
                + ", shorter than the 10-byte header"
                : bytes.length + " bytes starting " + start;
        return "not Avro single-object encoding: a " + recordName + " record of topic " + topic + " has " + found
                + ", expected the marker 0xC3 0x01 and an 8-byte schema fingerprint; was it written by another"
                + " serializer (plain Avro, JSON, a schema-registry serde)?";
    }

    private static String fingerprintOf(byte[] bytes) {
        if (bytes.length < HEADER_BYTES) {
            return "(none: record shorter than the header)";
        }
        return SchemaHistory.fingerprintHex(ByteBuffer.wrap(bytes, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
    }
}
