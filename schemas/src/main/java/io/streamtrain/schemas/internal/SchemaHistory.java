package io.streamtrain.schemas.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;

/**
 * The released versions of a record's schema, read from the classpath resources
 * {@code avro-history/<Record>/v1.avsc, v2.avsc, ...} (source: {@code schemas/src/main/avro-history}). Versions are
 * numbered from 1 without gaps; a schema change that reaches users is released by adding the next version.
 */
public final class SchemaHistory {
    static final String ROOT = "avro-history/";

    private SchemaHistory() {}

    /** The released schemas of {@code recordName}, oldest first; fails when there is none. */
    public static List<Schema> load(String recordName) {
        List<Schema> versions = new ArrayList<>();
        ClassLoader loader = SchemaHistory.class.getClassLoader();
        for (int version = 1; ; version++) {
            String resource = resource(recordName, version);
            try (InputStream in = loader.getResourceAsStream(resource)) {
                if (in == null) {
                    break;
                }
                versions.add(new Schema.Parser().parse(in));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read schema history resource " + resource, e);
            } catch (RuntimeException e) {
                throw new IllegalStateException("schema history resource " + resource + " is not a valid Avro schema: "
                        + e.getMessage(), e);
            }
        }
        if (versions.isEmpty()) {
            throw new IllegalStateException("no released schema for " + recordName + ": expected the classpath resource "
                    + resource(recordName, 1) + " (source schemas/src/main/avro-history/" + recordName + "/v1.avsc)");
        }
        return List.copyOf(versions);
    }

    /** Classpath resource of one released version. */
    public static String resource(String recordName, int version) {
        return ROOT + recordName + "/v" + version + ".avsc";
    }

    /** The 64-bit fingerprint single-object encoding writes (CRC-64-AVRO of the parsing canonical form), as hex. */
    public static String fingerprintHex(Schema schema) {
        return fingerprintHex(SchemaNormalization.parsingFingerprint64(schema));
    }

    static String fingerprintHex(long fingerprint) {
        return String.format("%016x", fingerprint);
    }
}
