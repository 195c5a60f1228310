package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.schemas.TokenBatch;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads the first {@code capacity} good batches of the evaluation topic, from its beginning, on a daemon thread, and
 * hands them to the training thread through {@link #take}. No consumer group: the partitions are assigned and read
 * from offset 0, so a restart reads the same batches again. A batch that does not decode or does not fit the model
 * (tokenizer, shape, ids) is reported on the log and skipped. The thread ends once {@code capacity} batches were read,
 * or at {@link #close()}; while the topic does not exist yet it looks again every second.
 */
public final class EvaluationBatchLoader implements AutoCloseable {
    private static final Duration POLL = Duration.ofMillis(500);

    private final String topic;
    private final int capacity;
    private final BatchValidator validator;
    private final PrintStream log;
    private final KafkaConsumer<byte[], byte[]> consumer;
    private final ConcurrentLinkedQueue<CheckedTokens> ready = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread thread;
    private final CountDownLatch caughtUp = new CountDownLatch(1);

    /**
     * @param clientConfig the Kafka client settings (bootstrap servers, security ...); no group is used, offsets are
     *                     never committed
     */
    public EvaluationBatchLoader(Map<String, Object> clientConfig, String topic, int capacity,
                                 TokenizerIdentity tokenizer, GptConfig model, int rows, int sequenceLength,
                                 PrintStream log) {
        this.topic = topic;
        this.capacity = capacity;
        this.validator = new BatchValidator(tokenizer, model, rows, sequenceLength);
        this.log = log;
        Map<String, Object> config = new HashMap<>(clientConfig);
        config.remove(ConsumerConfig.GROUP_ID_CONFIG);
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(1, Math.min(capacity, 64)));
        this.consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.thread = new Thread(this::run, "streamtrain-eval-loader");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Waits until the loader has read what the topic held when it started (or its capacity, or the topic does not
     * exist), at most {@code timeout}, so that a run whose evaluation data was produced first evaluates on the whole
     * set from its first evaluation.
     *
     * @return false on timeout
     */
    public boolean awaitInitialBatches(Duration timeout) throws InterruptedException {
        return caughtUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The batches read since the last call (at most {@code capacity} over the loader's life), in offset order. */
    public List<CheckedTokens> take() {
        List<CheckedTokens> batches = new ArrayList<>();
        for (CheckedTokens batch = ready.poll(); batch != null; batch = ready.poll()) {
            batches.add(batch);
        }
        return batches;
    }

    private void run() {
        int read = 0;
        try {
            List<TopicPartition> partitions = awaitPartitions();
            if (partitions.isEmpty()) {
                return;
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> endAtStart = consumer.endOffsets(partitions);
            while (!closed.get() && read < capacity) {
                if (caughtUp.getCount() > 0 && endAtStart.entrySet().stream()
                        .allMatch(end -> consumer.position(end.getKey()) >= end.getValue())) {
                    caughtUp.countDown();
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                    if (read == capacity) {
                        break;
                    }
                    CheckedTokens tokens = decode(record);
                    if (tokens != null) {
                        ready.add(tokens);
                        read++;
                    }
                }
            }
        } catch (WakeupException e) {
            // closed
        } catch (RuntimeException e) {
            if (!closed.get()) {
                log.println("evaluation set: reading " + topic + " failed after " + read + " batches (" + e
                        + "); evaluation goes on with those");
            }
        } finally {
            caughtUp.countDown();
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** The topic's partitions in order, once it exists; empty when closed first. */
    private List<TopicPartition> awaitPartitions() throws WakeupException {
        while (!closed.get()) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(5));
            if (infos != null && !infos.isEmpty()) {
                return infos.stream().sorted(Comparator.comparingInt(PartitionInfo::partition))
                        .map(info -> new TopicPartition(topic, info.partition())).toList();
            }
            caughtUp.countDown(); // nothing to wait for
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return List.of();
            }
        }
        return List.of();
    }

    private CheckedTokens decode(ConsumerRecord<byte[], byte[]> record) {
        TopicPartition partition = new TopicPartition(topic, record.partition());
        try {
            TokenBatch batch = TrainingStepProcessor.decode(record.value(), partition, record.offset());
            return validator.validateAndDecode(batch, partition, record.offset()).copy();
        } catch (BadBatchException e) {
            log.println("evaluation set: skipped " + partition + "@" + record.offset() + ": " + e.getMessage());
        }
        return null;
    }

    /** Stops the thread (and its consumer) without waiting for more batches. */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            consumer.wakeup();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
