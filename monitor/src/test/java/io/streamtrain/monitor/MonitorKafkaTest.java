package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.metrics;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.schemas.TrainingMetrics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.LongStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The monitor's follower on a real broker: topics that appear later, a start time, the console view. */
class MonitorKafkaTest {
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass();
    private static TrainerTopics topics;

    @BeforeAll
    static void openTopics() throws Exception {
        topics = new TrainerTopics(kafka);
    }

    @Test
    void shouldFollowTopicsCreatedAfterTheMonitorStartedAndPrintThemOnTheConsole() throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Monitor monitor = Monitor.start(new MonitorConfig(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(),
                MonitorConfig.HTTP_PORT, 0, MonitorConfig.METRICS_TOPIC, "late.metrics", MonitorConfig.SAMPLES_TOPIC, "late.samples",
                MonitorConfig.DEAD_LETTERS_TOPIC, "late.dead-letters", MonitorConfig.CONSOLE, true, MonitorConfig.CONSOLE_REFRESH_MS, 100L)),
                new PrintStream(console, true, StandardCharsets.UTF_8))) {
            Thread.sleep(500); // the monitor has looked for the topics once and found none
            topics.createTopics("late.metrics", "late.samples");
            topics.send("late.metrics", "late.samples", steps("late-run", 1, 8), List.of());
            waitUntil(() -> monitor.store().metrics("late-run").size() == 8);
            waitUntil(() -> console.toString(StandardCharsets.UTF_8).contains("late-run step 8 "));
        }
    }

    @Test
    void shouldShowOnlyRecordsFromTheStartTimeWhenOneIsGiven() throws Exception {
        topics.createTopics("timed.metrics", "timed.samples");
        topics.send("timed.metrics", "timed.samples", steps("timed-run", 1, 5), List.of());
        Thread.sleep(50);
        Instant start = Instant.now();
        Thread.sleep(50);
        topics.send("timed.metrics", "timed.samples", steps("timed-run", 6, 10), List.of());
        try (Monitor monitor = Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, kafka.bootstrapServers(), MonitorConfig.HTTP_PORT, 0,
                MonitorConfig.METRICS_TOPIC, "timed.metrics", MonitorConfig.SAMPLES_TOPIC, "timed.samples",
                MonitorConfig.START_TIME, start.toString()))) {
            waitUntil(() -> monitor.store().metrics("timed-run").size() >= 5);
            Thread.sleep(300); // had steps 1..5 been read, they would be here by now
            assertEquals(List.of(6L, 7L, 8L, 9L, 10L), monitor.store().metrics("timed-run").stream().map(TrainingMetrics::getStep).toList());
        }
    }

    private static List<TrainingMetrics> steps(String runId, long first, long last) {
        return LongStream.rangeClosed(first, last).mapToObj(step -> metrics(runId, step)).toList();
    }

    private static void waitUntil(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 30_000;
        while (!condition.getAsBoolean()) {
            assertTrue(System.currentTimeMillis() < deadline, "the monitor did not catch up within 30 s");
            Thread.sleep(50);
        }
    }
}
