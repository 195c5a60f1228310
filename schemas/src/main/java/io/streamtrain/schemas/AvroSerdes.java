package io.streamtrain.schemas;

import io.streamtrain.schemas.internal.SingleObjectSerde;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.specific.SpecificData;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;

/**
 * Kafka serdes in Avro single-object encoding ({@code BinaryMessageEncoder}/{@code BinaryMessageDecoder}, with a
 * {@code SchemaStore.Cache} holding every released version under {@code schemas/src/main/avro-history}). A
 * deserializer given bytes that are not single-object Avro, carry an unknown schema fingerprint or a corrupt body
 * throws a {@link org.apache.kafka.common.errors.SerializationException} whose message says which. The serdes are
 * thread-safe and shared.
 */
public final class AvroSerdes {
    private AvroSerdes() {}

    public static Serde<TokenBatch> tokenBatch() {
        return Holder.TOKEN_BATCH;
    }

    /**
     * A deserializer of TokenBatch records for the trainer: the same bytes, every released version, but only the
     * fields a training step uses (dataset, sequence, tokenizer, rows, sequence length, tokens) are built;
     * {@code documents} and {@code createdAt} are skipped in the stream and read as null. Serializing such a record
     * fails: use {@link #tokenBatch()} for everything else.
     */
    public static Deserializer<TokenBatch> tokenBatchForTraining() {
        return Holder.TOKEN_BATCH_FOR_TRAINING;
    }

    public static Serde<TrainingMetrics> trainingMetrics() {
        return Holder.TRAINING_METRICS;
    }

    public static Serde<TextSample> textSample() {
        return Holder.TEXT_SAMPLE;
    }

    public static Serde<ModelAnnouncement> modelAnnouncement() {
        return Holder.MODEL_ANNOUNCEMENT;
    }

    /** Built on first use: each reads its schema history from the classpath once. */
    private static final class Holder {
        static final Serde<TokenBatch> TOKEN_BATCH = SingleObjectSerde.create("TokenBatch",
                TokenBatch.getClassSchema(), TokenBatch.getEncoder(), TokenBatch::createDecoder);
        static final Deserializer<TokenBatch> TOKEN_BATCH_FOR_TRAINING = SingleObjectSerde.create("TokenBatch",
                TokenBatch.getClassSchema(), TokenBatch.getEncoder(), store -> new BinaryMessageDecoder<>(
                        SpecificData.getForClass(TokenBatch.class),
                        SingleObjectSerde.leadingFields(TokenBatch.getClassSchema(), "documents"), store))
                .deserializer();
        static final Serde<TrainingMetrics> TRAINING_METRICS = SingleObjectSerde.create("TrainingMetrics",
                TrainingMetrics.getClassSchema(), TrainingMetrics.getEncoder(), TrainingMetrics::createDecoder);
        static final Serde<TextSample> TEXT_SAMPLE = SingleObjectSerde.create("TextSample",
                TextSample.getClassSchema(), TextSample.getEncoder(), TextSample::createDecoder);
        static final Serde<ModelAnnouncement> MODEL_ANNOUNCEMENT = SingleObjectSerde.create("ModelAnnouncement",
                ModelAnnouncement.getClassSchema(), ModelAnnouncement.getEncoder(), ModelAnnouncement::createDecoder);
    }
}
