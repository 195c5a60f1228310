package io.streamtrain.trainer;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.streamtrain.schemas.KafkaClientSettings;
import java.io.PrintStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The dead-letter topic, written by the training step itself, one record at a time and synchronously: a dead letter
 * is on the broker before its source offset counts as handled, so a crash can never lose one that a checkpoint
 * already covers. A record holds the original key and value and the headers
 * {@value #MESSAGE} ({@code "<reason code>: <details>"}), {@value #EXCEPTION}, {@value #TOPIC}, {@value #PARTITION},
 * {@value #OFFSET} (the names of Kafka Streams' dead-letter queue, which readers such as the monitor know) and
 * {@value #RUN_ID}.
 *
 * <p>A record too large for the topic (above {@code max.request.size}, which the trainer sets from the topic's
 * {@code max.message.bytes}) is dead-lettered as a reference: reason {@link DeadLetterReason#RECORD_TOO_LARGE}, the
 * first {@value #PREFIX_BYTES} bytes of key and value, and the value's length and SHA-256 in {@value #VALUE_LENGTH}
 * and {@value #VALUE_SHA256}. Nothing here retries or recurses: a reference that cannot be sent either is a fault of
 * the broker, not of the record, and fails the step.
 *
 * <p>Exactly once across a crash: a dead letter sent after the last checkpoint is found again on restart by
 * {@link #findSent} (its run id and source coordinates), and the replayed record is not sent a second time.
 */
public final class DeadLetters implements AutoCloseable {
    public static final String MESSAGE = "__streams.errors.message";
    public static final String EXCEPTION = "__streams.errors.exception";
    public static final String TOPIC = "__streams.errors.topic";
    public static final String PARTITION = "__streams.errors.partition";
    public static final String OFFSET = "__streams.errors.offset";
    public static final String RUN_ID = "streamtrain.run.id";
    public static final String VALUE_LENGTH = "streamtrain.value.length";
    public static final String VALUE_SHA256 = "streamtrain.value.sha256";
    /** The {@value #EXCEPTION} header: what Kafka Streams' dead-letter queue put there for our records. */
    private static final byte[] EXCEPTION_NAME = "io.streamtrain.trainer.internal.BadBatchException".getBytes(UTF_8);
    /** Bytes of key and value a reference dead letter keeps. */
    public static final int PREFIX_BYTES = 1024;
    /** Room left in a request for the record batch, the record's framing and headers. */
    private static final int OVERHEAD_BYTES = 512;

    private final Producer<byte[], byte[]> producer;
    private final String topic;
    private final int maxRequestSize;
    private final String runId;
    private final Set<String> sentBeforeRestart = new HashSet<>();
    private final Map<Integer, Long> positions = new HashMap<>();   // dead-letter partition -> next offset

    /**
     * @param producer       used by this object only (it closes it); synchronous sends
     * @param maxRequestSize the producer's {@code max.request.size}: a record above it is sent as a reference
     */
    public DeadLetters(Producer<byte[], byte[]> producer, String topic, int maxRequestSize, String runId) {
        this.producer = producer;
        this.topic = topic;
        this.maxRequestSize = maxRequestSize;
        this.runId = runId;
    }

    public String topic() {
        return topic;
    }

    /**
     * The dead-letter topic's writer for {@code runId} (idempotent producer, {@code acks=all}, {@code linger.ms=0},
     * requests up to {@code maxMessageBytes}, the topic's {@code max.message.bytes}); when {@code lookFrom} is given
     * (any run that may have sent dead letters after its last checkpoint), the dead letters of this run found on the
     * topic from there ({@link #findSent}), not to send again. Used by the Kafka Streams trainer and by every rank.
     *
     * @param clientId the Kafka client ids' prefix ({@code -dead-letters} and {@code -dead-letters-check} appended)
     * @param lookFrom the checkpoint's dead-letter positions, or null for a new run (nothing to look for)
     * @param handled  the checkpoint's last handled offset per source partition
     */
    public static DeadLetters open(KafkaClientSettings clients, String clientId, String topic, int maxMessageBytes,
                                   String runId, Map<Integer, Long> lookFrom, Map<TopicPartition, Long> handled,
                                   Duration timeout, PrintStream log) {
        Map<String, Object> producerConfig = clients.clientConfig(
                Map.of(CommonClientConfigs.CLIENT_ID_CONFIG, clientId + "-dead-letters"));
        producerConfig.putAll(Map.of(ProducerConfig.ACKS_CONFIG, "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.LINGER_MS_CONFIG, 0, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, maxMessageBytes));
        DeadLetters letters = new DeadLetters(new KafkaProducer<>(producerConfig, new ByteArraySerializer(),
                new ByteArraySerializer()), topic, maxMessageBytes, runId);
        if (lookFrom != null) {
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(clients.clientConfig(
                    Map.of(CommonClientConfigs.CLIENT_ID_CONFIG, clientId + "-dead-letters-check")),
                    new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
                int found = letters.findSent(consumer, lookFrom, handled, timeout);
                if (found > 0) {
                    log.println(found + " dead letter(s) of run " + runId + " were sent after the"
                            + " checkpoint; their records are not sent again when they are read again");
                }
            } catch (RuntimeException e) {
                letters.close();
                throw e;
            }
        }
        return letters;
    }

    /**
     * Remembers the dead letters of this run already on the topic for source offsets above {@code handled} (sent
     * after the checkpoint, before a crash): read from {@code from} (the checkpoint's dead-letter positions; the
     * topic's start for partitions it does not know) to the end. Their records will be handled without a second send.
     *
     * @return how many were found
     */
    public int findSent(Consumer<byte[], byte[]> consumer, Map<Integer, Long> from,
                        Map<TopicPartition, Long> handled, Duration timeout) {
        List<TopicPartition> partitions = consumer.partitionsFor(topic, timeout).stream()
                .map(info -> new TopicPartition(topic, info.partition())).toList();
        consumer.assign(partitions);
        consumer.seekToBeginning(partitions);
        for (TopicPartition partition : partitions) {
            Long position = from.get(partition.partition());
            if (position != null) {
                consumer.seek(partition, position);
            }
        }
        Map<TopicPartition, Long> end = consumer.endOffsets(partitions, timeout);
        long deadline = System.nanoTime() + timeout.toNanos();
        int found = 0;
        while (partitions.stream().anyMatch(p -> consumer.position(p, timeout) < end.get(p))) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("cannot read the dead-letter topic " + topic + " to its end "
                        + end + " within " + timeout + "; is the broker reachable?");
            }
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                positions.merge(record.partition(), record.offset() + 1, Math::max);
                if (!runId.equals(header(record.headers(), RUN_ID))) {
                    continue;
                }
                String sourceTopic = header(record.headers(), TOPIC);
                String partition = header(record.headers(), PARTITION);
                String offset = header(record.headers(), OFFSET);
                if (sourceTopic == null || partition == null || offset == null) {
                    continue;
                }
                TopicPartition source = new TopicPartition(sourceTopic, Integer.parseInt(partition));
                Long last = handled.get(source);
                if (last == null || Long.parseLong(offset) > last) {
                    found += sentBeforeRestart.add(coordinates(source, Long.parseLong(offset))) ? 1 : 0;
                }
            }
        }
        return found;
    }

    /**
     * Sends the dead letter of the record at {@code source}@{@code offset}, with {@code message}
     * ({@code "<reason code>: <details>"}), and waits for the broker; does nothing
     * when the dead letter was already sent before a restart ({@link #findSent}).
     *
     * @return the reason it went out under: {@code reason}, or {@link DeadLetterReason#RECORD_TOO_LARGE}
     */
    public DeadLetterReason send(byte[] key, byte[] value, TopicPartition source, long offset,
                                 DeadLetterReason reason, String message) {
        if (sentBeforeRestart.remove(coordinates(source, offset))) {
            return reason;
        }
        long size = length(key) + length(value) + message.length() + OVERHEAD_BYTES;
        if (size <= maxRequestSize) {
            try {
                sendAndWait(new ProducerRecord<>(topic, null, key, value, headers(source, offset, message)));
                return reason;
            } catch (RecordTooLargeException e) {
                // the estimate was short (headers, compression off): send the reference below
            }
        }
        String reference = DeadLetterReason.RECORD_TOO_LARGE.code() + ": the record of " + length(key) + "-byte key and "
                + length(value) + "-byte value is above the dead-letter topic's limit (max.request.size "
                + maxRequestSize + "); this dead letter holds the first " + PREFIX_BYTES + " bytes of each, the"
                + " value's length and SHA-256; read the record itself at its topic, partition and offset. It was"
                + " refused because " + message;
        Headers headers = headers(source, offset, reference);
        headers.add(VALUE_LENGTH, Long.toString(length(value)).getBytes(UTF_8));
        headers.add(VALUE_SHA256, sha256(value).getBytes(UTF_8));
        sendAndWait(new ProducerRecord<>(topic, null, prefix(key), prefix(value), headers));
        return DeadLetterReason.RECORD_TOO_LARGE;
    }

    /** The next offset of every dead-letter partition this object wrote to or read: for the checkpoint. */
    public Map<Integer, Long> positions() {
        return Map.copyOf(positions);
    }

    private void sendAndWait(ProducerRecord<byte[], byte[]> record) {
        try {
            RecordMetadata sent = producer.send(record).get();
            positions.merge(sent.partition(), sent.offset() + 1, Math::max);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RecordTooLargeException tooLarge) {
                throw tooLarge;
            }
            throw new IllegalStateException("cannot send a dead letter to " + topic + ": " + e.getCause()
                    + "; is the broker reachable?", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while sending a dead letter to " + topic, e);
        }
    }

    private Headers headers(TopicPartition source, long offset, String message) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(MESSAGE, message.getBytes(UTF_8));
        headers.add(EXCEPTION, EXCEPTION_NAME);
        headers.add(TOPIC, source.topic().getBytes(UTF_8));
        headers.add(PARTITION, Integer.toString(source.partition()).getBytes(UTF_8));
        headers.add(OFFSET, Long.toString(offset).getBytes(UTF_8));
        headers.add(RUN_ID, runId.getBytes(UTF_8));
        return headers;
    }

    private static String coordinates(TopicPartition source, long offset) {
        return source + "@" + offset;
    }

    private static long length(byte[] bytes) {
        return bytes == null ? 0 : bytes.length;
    }

    private static byte[] prefix(byte[] bytes) {
        return bytes == null || bytes.length <= PREFIX_BYTES ? bytes : Arrays.copyOf(bytes, PREFIX_BYTES);
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(bytes == null ? new byte[0] : bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** A header's value as UTF-8, or null when absent. */
    public static String header(Headers headers, String key) {
        Header header = headers.lastHeader(key);
        return header == null || header.value() == null ? null : new String(header.value(), UTF_8);
    }

    @Override
    public void close() {
        producer.close();
    }
}
