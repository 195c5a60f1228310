package io.streamtrain.producer.internal;

import io.streamtrain.producer.ProducerException;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.DocumentRef;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.TokenizerInfo;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.serialization.StringSerializer;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Publishes packed batches as TokenBatch records with the idempotent producer and {@code acks=all}: a retry never
 * duplicates or reorders a batch. The first failed send is fatal and surfaces at the next {@link #publish} or at
 * {@link #flush}.
 *
 * <p>Where a batch goes: with {@code spread} P > 1, batch k goes to partition k mod P as a batch of the shard
 * {@code <dataset>@<p>} (its TokenBatch.dataset and its record key), so every partition holds one shard of the
 * dataset in sequence order and data-parallel trainers share the dataset by partition; the shard name keeps the
 * trainer's per-dataset order checksum deterministic (one shard, one partition). With P = 1 the record is keyed by
 * the dataset name, so the whole dataset stays in one partition, in order.
 */
public final class KafkaBatchPublisher implements AutoCloseable {
    private final KafkaProducer<String, TokenBatch> producer;
    private final String topic;
    private final String dataset;
    private final int spread;
    private final String[] shards; // dataset@p, made once
    private final TokenizerInfo tokenizer;
    private final AtomicReference<Exception> failure = new AtomicReference<>();
    private final AtomicLong acknowledged = new AtomicLong();

    /**
     * @param clientConfig bootstrap servers and any user Kafka settings; idempotence, acks and serializers are set here
     * @param recordBytes  size of one batch's tokens, to raise max.request.size above it when needed
     * @param spread       partitions P to spread the dataset over (batch k to partition k mod P, as shard
     *                     {@code <dataset>@<p>}); 1 keeps it in one partition, keyed by the dataset name
     */
    public KafkaBatchPublisher(Map<String, Object> clientConfig, String topic, String dataset, TokenizerInfo tokenizer,
                               int recordBytes, int spread) {
        if (spread < 1) {
            throw new IllegalArgumentException("spread over at least one partition, got " + spread);
        }
        Map<String, Object> config = new HashMap<>(clientConfig);
        config.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "streamtrain-producer-" + dataset);
        config.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, 5);
        config.putIfAbsent(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Math.max(1 << 20, recordBytes + (64 << 10)));
        config.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        config.put(ProducerConfig.ACKS_CONFIG, "all");
        try {
            this.producer = new KafkaProducer<>(config, new StringSerializer(), AvroSerdes.tokenBatch().serializer());
        } catch (KafkaException e) {
            throw new ProducerException("cannot create the Kafka producer: " + e.getMessage()
                    + "; check the kafka.* settings", e);
        }
        this.topic = topic;
        this.dataset = dataset;
        this.spread = spread;
        this.shards = new String[spread];
        for (int p = 0; p < spread; p++) {
            shards[p] = shardName(dataset, p);
        }
        this.tokenizer = tokenizer;
    }

    /** The name of the shard of {@code dataset} in partition {@code partition}: {@code <dataset>@<partition>}. */
    public static String shardName(String dataset, int partition) {
        return dataset + "@" + partition;
    }

    public void publish(PackedBatch batch) {
        throwIfFailed();
        List<DocumentRef> documents = new ArrayList<>(batch.documents().size());
        for (PackedBatch.DocumentId document : batch.documents()) {
            documents.add(new DocumentRef(document.id(), document.source(), document.metadata()));
        }
        int partition = spread == 1 ? -1 : (int) Math.floorMod(batch.sequence(), (long) spread);
        String name = spread == 1 ? dataset : shards[partition];
        TokenBatch record = TokenBatch.newBuilder()
                .setDataset(name)
                .setSequence(batch.sequence())
                .setTokenizer(tokenizer)
                .setRows(batch.rows())
                .setSequenceLength(batch.sequenceLength())
                .setTokens(TokenIds.encode(batch.tokens(), 0, batch.tokens().length))
                .setDocuments(documents)
                .setCreatedAt(Instant.now())
                .build();
        try {
            producer.send(new ProducerRecord<>(topic, spread == 1 ? null : partition, name, record),
                    (metadata, exception) -> {
                        if (exception != null) {
                            failure.compareAndSet(null, exception);
                        } else {
                            acknowledged.incrementAndGet();
                        }
                    });
        } catch (KafkaException e) {
            throw fatal(e, batch.sequence());
        }
    }

    /** Waits until every batch sent is acknowledged; throws when one failed. */
    public void flush() {
        try {
            producer.flush();
        } catch (KafkaException e) {
            throw fatal(e, -1);
        }
        throwIfFailed();
    }

    /** Batches the broker acknowledged so far. */
    public long acknowledged() {
        return acknowledged.get();
    }

    private void throwIfFailed() {
        Exception e = failure.get();
        if (e != null) {
            throw fatal(e, -1);
        }
    }

    private ProducerException fatal(Exception e, long sequence) {
        String which = sequence >= 0 ? "batch " + sequence : "a batch";
        String advice;
        if (e instanceof RecordTooLargeException) {
            advice = "the record is larger than the broker or topic accepts: raise max.message.bytes on topic " + topic
                    + " or use fewer rows (B) or a shorter sequence (T)";
        } else if (e instanceof AuthorizationException) {
            advice = "this client may not write to topic " + topic + ": grant it WRITE and IDEMPOTENT_WRITE";
        } else if (e instanceof TimeoutException) {
            advice = "the broker stopped answering: check that Kafka is up, then run again with first.sequence set "
                    + "after the last batch that arrived";
        } else {
            advice = "check the broker's log";
        }
        return new ProducerException("Kafka refused " + which + " of dataset " + dataset + " on topic " + topic
                + ": " + e.getMessage() + "; " + advice, e);
    }

    @Override
    public void close() {
        producer.close(Duration.ofSeconds(30));
    }
}
