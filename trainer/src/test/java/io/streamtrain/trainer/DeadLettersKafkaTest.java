package io.streamtrain.trainer;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.internal.CheckpointStore;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.LongStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every record of the input topic ends in exactly one place, on a real broker: trained once (the checkpoint's order
 * checksum and the metrics topic say which) or on the dead-letter topic once, with its reason, topic, partition and
 * offset. Bad records sit between good ones, so that a bad record's neighbours are exposed.
 */
class DeadLettersKafkaTest {
    private static final int B = NumberedBatches.B;
    private static final int T = NumberedBatches.T;
    private static final Duration TIMEOUT = Duration.ofMinutes(2);

    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass();

    @TempDir
    Path dir;

    /** A bad record to write between good ones: its key (may be null), value (may be null) and expected reason. */
    record Bad(String reason, String description, byte[] key, byte[] value) {}

    /** Every kind of bad record: the README's list, and what a careless or broken producer writes. */
    static List<Bad> badRecords() {
        Random random = new Random(9);
        byte[] randomBytes = new byte[200];
        random.nextBytes(randomBytes);
        byte[] nullKeyGarbage = new byte[64];
        random.nextBytes(nullKeyGarbage);
        byte[] good = NumberedBatches.value("any", 1_000);
        List<Bad> bad = new ArrayList<>(List.of(
                new Bad("not-a-token-batch", "random bytes", NumberedBatches.key(), randomBytes),
                new Bad("not-a-token-batch", "an empty value", NumberedBatches.key(), new byte[0]),
                new Bad("empty-batch", "a tombstone", NumberedBatches.key(), null),
                new Bad("not-a-token-batch", "Avro of another schema", NumberedBatches.key(),
                        AvroSerdes.trainingMetrics().serializer().serialize("any", NumberedBatches.metrics("r", 1))),
                new Bad("not-a-token-batch", "a truncated TokenBatch", NumberedBatches.key(),
                        Arrays.copyOf(good, good.length / 2)),
                new Bad("not-a-token-batch", "garbage with a null key", null, nullKeyGarbage)));
        for (TestBatches.BadRecord record : TestBatches.badRecords(B, T)) {
            bad.add(new Bad(record.reason(), record.description(), NumberedBatches.key(), record.bytes()));
        }
        byte[] huge = new byte[3 << 19];   // 1.5 MiB: above the dead-letter topic's 1 MiB
        random.nextBytes(huge);
        bad.add(new Bad("record-too-large", "1.5 MiB of random bytes", NumberedBatches.key(), huge));
        int rows = (3 << 19) / ((T + 1) * Integer.BYTES);
        bad.add(new Bad("record-too-large", "a 1.5 MiB TokenBatch of the wrong shape", NumberedBatches.key(),
                TestBatches.serialize(new TestBatches(B, T).batch(new int[rows * (T + 1)], rows, T))));
        return bad;
    }

    @Test
    void everyGoodRecordIsTrainedOnceAndEveryBadOneIsDeadLetteredOnceWithItsReason() throws Exception {
        String topic = "interleaved";
        kafka.createTopic(topic, 1, Map.of("max.message.bytes", Integer.toString(8 << 20)));
        List<Bad> bad = badRecords();
        List<Long> goodOffsets = new ArrayList<>();
        List<Long> badOffsets = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (int i = 0; i <= bad.size(); i++) {   // good 0, bad 0, good 1, bad 1, ..., good n
                goodOffsets.add(send(producer, topic, NumberedBatches.key(), NumberedBatches.value(topic, i)));
                if (i < bad.size()) {
                    badOffsets.add(send(producer, topic, bad.get(i).key(), bad.get(i).value()));
                }
            }
        }
        int goods = goodOffsets.size();
        Map<String, String> config = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "interleaved", topic,
                dir.resolve("run"), TrainerConfig.MAX_STEPS, Integer.toString(goods), TrainerConfig.RUN_ID, "bad-run");
        Path finalCheckpoint;
        try (Trainer trainer = new Trainer(new TrainerConfig(config), new PrintStream(new ByteArrayOutputStream()))) {
            trainer.start();
            assertTrue(trainer.awaitSteps(goods, TIMEOUT), "every good batch trained within " + TIMEOUT
                    + "; trained " + trainer.step());
            finalCheckpoint = trainer.stop().orElseThrow();
        }

        Checkpoint checkpoint = Checkpoints.read(finalCheckpoint);
        assertEquals(Long.toString(goods), checkpoint.metadata().get(RunLedger.BATCHES_TRAINED_KEY));
        assertEquals(Long.toString(checksum(goods)), checkpoint.metadata().get(
                RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + NumberedBatches.DATASET),
                "the order checksum of the good batches 0.." + (goods - 1) + ": each trained once, in order");
        List<Long> trainedOffsets = kafka.readAll(config.get(TrainerConfig.METRICS_TOPIC), TIMEOUT).stream()
                .map(r -> AvroSerdes.trainingMetrics().deserializer().deserialize("m", r.value()))
                .map(TrainingMetrics::getSourceOffset).toList();
        assertEquals(goodOffsets, trainedOffsets, "one metrics record per good record, none for a bad one");

        List<ConsumerRecord<byte[], byte[]>> letters = kafka.readAll(config.get(TrainerConfig.DEAD_LETTERS_TOPIC),
                TIMEOUT);
        assertEquals(badOffsets, letters.stream().map(l -> Long.parseLong(header(l, "__streams.errors.offset")))
                .toList(), "one dead letter per bad record, in order");
        for (int i = 0; i < bad.size(); i++) {
            Bad expected = bad.get(i);
            ConsumerRecord<byte[], byte[]> letter = letters.get(i);
            String message = header(letter, "__streams.errors.message");
            assertTrue(message.startsWith(expected.reason() + ": "), expected.description() + ": " + message);
            assertEquals(topic, header(letter, "__streams.errors.topic"));
            assertEquals("0", header(letter, "__streams.errors.partition"));
            assertArrayEquals(expected.key(), letter.key(), "the original key of " + expected.description());
            if (expected.reason().equals("record-too-large")) {
                assertArrayEquals(Arrays.copyOf(expected.value(), 1024), letter.value(), "a reference holds the"
                        + " first 1024 bytes of " + expected.description());
                assertEquals(Integer.toString(expected.value().length), header(letter, "streamtrain.value.length"));
                assertEquals(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(expected.value())),
                        header(letter, "streamtrain.value.sha256"));
            } else {
                assertArrayEquals(expected.value(), letter.value(), "the original bytes of "
                        + expected.description());
            }
        }
    }

    @Test
    void aDeadLetterSentAfterTheCheckpointIsNotSentAgainWhenTheRestartReplaysItsRecord() throws Exception {
        String topic = "replayed";
        kafka.createTopic(topic, 1);
        List<Long> badOffsets = new ArrayList<>();
        int goods = 8;
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (int i = 0; i < goods; i++) {   // good, bad, good, bad ..., good: a dead letter after each step
                send(producer, topic, NumberedBatches.key(), NumberedBatches.value(topic, i));
                if (i < goods - 1) {
                    badOffsets.add(send(producer, topic, NumberedBatches.key(), ("not a batch " + i).getBytes(UTF_8)));
                }
            }
        }
        Map<String, String> config = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "replayed", topic,
                dir.resolve("run"), TrainerConfig.MAX_STEPS, Integer.toString(goods), TrainerConfig.RUN_ID, "replayed",
                TrainerConfig.CHECKPOINT_EVERY_STEPS, "2", TrainerConfig.CHECKPOINT_KEEP, "10");
        try (Trainer trainer = new Trainer(new TrainerConfig(config), new PrintStream(new ByteArrayOutputStream()))) {
            trainer.start();
            assertTrue(trainer.awaitSteps(goods, TIMEOUT));
        }
        // As after a crash right after the checkpoint of step 2: the newer ones never written.
        CheckpointStore store = new CheckpointStore(new TrainerConfig(config).checkpointDir(), 10);
        for (Path newer : store.newestFirst()) {
            if (!newer.equals(store.pathOf(2))) {
                Files.delete(newer);
            }
        }
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Trainer restarted = new Trainer(new TrainerConfig(config), new PrintStream(console, true, UTF_8))) {
            assertEquals(2, restarted.step());
            restarted.start();
            assertTrue(restarted.awaitSteps(goods, TIMEOUT), console.toString(UTF_8));
            assertEquals(Long.toString(checksum(goods)), Checkpoints.read(restarted.stop().orElseThrow()).metadata()
                    .get(RunLedger.BATCHES_CHECKSUM_KEY_PREFIX + NumberedBatches.DATASET));
        }
        assertTrue(console.toString(UTF_8).contains("6 dead letter(s) of run replayed were sent after the"
                + " checkpoint"), console.toString(UTF_8));
        List<Long> lettered = kafka.readAll(config.get(TrainerConfig.DEAD_LETTERS_TOPIC), TIMEOUT).stream()
                .map(l -> Long.parseLong(header(l, "__streams.errors.offset"))).toList();
        assertEquals(badOffsets, lettered, "each bad record dead-lettered once, though the restart read it again");
    }

    static long send(KafkaProducer<byte[], byte[]> producer, String topic, byte[] key, byte[] value)
            throws Exception {
        RecordMetadata sent = producer.send(new ProducerRecord<>(topic, 0, key, value)).get();
        return sent.offset();
    }

    /** The order checksum of batches 0..count-1 applied once each, in order: {@code h = 31 h + sequence}. */
    static long checksum(int count) {
        return LongStream.range(0, count).reduce(0, (h, sequence) -> 31 * h + sequence);
    }

    static String header(ConsumerRecord<byte[], byte[]> record, String key) {
        return new String(record.headers().lastHeader(key).value(), UTF_8);
    }

    @Test
    void shouldReadTheMaximumRecordSizeOfADeadLetterTopicCreatedAMomentBefore() {
        try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
            io.streamtrain.trainer.internal.GroupPosition position = new io.streamtrain.trainer.internal.GroupPosition(
                    admin, Duration.ofSeconds(30), new PrintStream(new ByteArrayOutputStream()));
            for (int i = 0; i < 20; i++) { // the race a rank of a world met at start, on a loaded machine
                List<String> topics = List.of("fresh-" + i + ".dead-letters", "fresh-" + i + ".metrics",
                        "fresh-" + i + ".samples", "fresh-" + i + ".eval");
                position.createMissingTopics(topics);
                assertTrue(position.maxMessageBytes(topics.get(0)) > 0);
            }
        }
    }
}
