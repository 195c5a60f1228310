package io.streamtrain.trainer.eos;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.trainer.Trainer;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.testing.NumberedBatches;
import io.streamtrain.broker.testing.TestKafka;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a trainer starts, on a real broker: it waits for a broker that is down, and it never trains beside a live
 * trainer of the same run or application id (a child JVM, so that it can be SIGKILLed), while a killed one's
 * leftovers do not stop it.
 */
class TrainerStartTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(90);
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass();

    @TempDir
    Path dir;

    private static void produce(String topic, int from, int to) throws Exception {
        try (KafkaProducer<byte[], byte[]> producer = kafka.producer()) {
            for (int sequence = from; sequence < to; sequence++) {
                producer.send(new ProducerRecord<>(topic, 0, NumberedBatches.key(),
                        NumberedBatches.value(topic, sequence))).get();
            }
        }
    }

    @Test
    @Timeout(180)
    void aTrainerStartedWhileTheBrokerIsDownWaitsAndTrainsOnceItIsUp() throws Exception {
        String topic = "late-broker";
        kafka.createTopic(topic, 1);
        produce(topic, 0, 3);
        Map<String, String> config = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "late-broker", topic,
                dir.resolve("run"), TrainerConfig.MAX_STEPS, "3");
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        kafka.stopBroker();
        boolean up = false;
        try (Trainer trainer = new Trainer(new TrainerConfig(config), new PrintStream(console, true, UTF_8))) {
            CompletableFuture<Void> started = CompletableFuture.runAsync(() -> {
                try {
                    trainer.start();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(4_000); // two attempts of describeCluster (2 s each) and their retries
            assertTrue(!started.isDone(), "still waiting after 4 s: " + console.toString(UTF_8));
            kafka.startBroker();
            up = true;
            started.get(60, TimeUnit.SECONDS);
            assertTrue(trainer.awaitSteps(3, TIMEOUT), console.toString(UTF_8));
        } finally {
            if (!up) {
                kafka.startBroker();
            }
        }
        String printed = console.toString(UTF_8);
        assertTrue(printed.contains("waiting for the Kafka broker at " + kafka.bootstrapServers()), printed);
        assertTrue(printed.contains("is up after"), printed);
    }

    @Test
    @Timeout(240)
    void aSecondTrainerOfTheSameApplicationIdIsRefusedWhileTheFirstRunsAndStartsOnceItIsKilled() throws Exception {
        String topic = "fenced";
        kafka.createTopic(topic, 1);
        Path logs = Files.createDirectories(Path.of("target", "start-logs"));
        ChildTrainer first = ChildTrainer.start(NumberedBatches.trainerConfig(kafka.bootstrapServers(), "fenced",
                topic, dir.resolve("first"), TrainerConfig.RUN_ID, "first"), logs.resolve("fenced-first.log"));
        try {
            awaitMembers("fenced", first);
            Map<String, String> second = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "fenced", topic,
                    dir.resolve("second"), TrainerConfig.RUN_ID, "second", TrainerConfig.MAX_STEPS, "2");
            try (Trainer refused = new Trainer(new TrainerConfig(second), new PrintStream(new ByteArrayOutputStream()))) {
                IllegalStateException error = assertThrows(IllegalStateException.class, refused::start);
                assertTrue(error.getMessage().contains("in use by a running trainer pid " + first.pid())
                        && error.getMessage().contains("run first"), error.getMessage());
            }
            first.kill();
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            try (Trainer next = new Trainer(new TrainerConfig(second), new PrintStream(console, true, UTF_8))) {
                next.start();
                produce(topic, 0, 2);
                assertTrue(next.awaitSteps(2, TIMEOUT), console.toString(UTF_8));
            }
            assertTrue(console.toString(UTF_8).contains("evicted 1 stale member(s)"), console.toString(UTF_8));
        } finally {
            first.kill();
        }
    }

    @Test
    @Timeout(180)
    void twoTrainersOfOneRunStartedAtTheSameMomentDoNotBothTrain() throws Exception {
        String topic = "simultaneous";
        kafka.createTopic(topic, 1);
        Path logs = Files.createDirectories(Path.of("target", "start-logs"));
        Map<String, String> config = NumberedBatches.trainerConfig(kafka.bootstrapServers(), "simultaneous", topic,
                dir.resolve("run"), TrainerConfig.RUN_ID, "simultaneous");
        ChildTrainer a = ChildTrainer.start(config, logs.resolve("simultaneous-a.log"));
        ChildTrainer b = ChildTrainer.start(config, logs.resolve("simultaneous-b.log"));
        try {
            long deadline = System.nanoTime() + TIMEOUT.toNanos();
            while (a.isAlive() && b.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            ChildTrainer refused = a.isAlive() ? b : a;
            ChildTrainer running = refused == a ? b : a;
            assertEquals(2, refused.awaitExit(Duration.ofSeconds(10)), "exit status 2: could not start");
            assertTrue(refused.logTail().contains("is in use by another trainer"), refused.logTail());
            assertTrue(running.isAlive(), "the other one trains on: " + running.logTail());
        } finally {
            a.kill();
            b.kill();
        }
    }

    private static int memberCount(Admin admin, String groupId) throws InterruptedException {
        try {
            return admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId).get()
                    .members().size();
        } catch (ExecutionException e) {
            return 0;   // no such group yet
        }
    }

    /** Waits until the child trainer is a member of group {@code groupId}. */
    private static void awaitMembers(String groupId, ChildTrainer trainer) throws Exception {
        long deadline = System.nanoTime() + TIMEOUT.toNanos();
        try (Admin admin = kafka.admin()) {
            while (memberCount(admin, groupId) == 0) {
                assertTrue(trainer.isAlive(), trainer.logTail());
                assertTrue(System.nanoTime() < deadline, "no member in " + groupId + ": " + trainer.logTail());
                Thread.sleep(200);
            }
        }
    }
}
