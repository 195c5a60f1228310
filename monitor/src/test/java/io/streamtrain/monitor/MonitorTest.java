package io.streamtrain.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class MonitorTest {
    @Test
    void shouldServeTheDashboardAndCloseQuicklyWhenKafkaIsNotReachable() throws Exception {
        long started = System.nanoTime();
        try (Monitor monitor = Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "127.0.0.1:1", MonitorConfig.HTTP_PORT, 0))) {
            URI url = monitor.url();
            assertTrue(url.toString().matches("http://127\\.0\\.0\\.1:\\d+/"), url.toString());
            HttpResponse<String> page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(url).build(),
                HttpResponse.BodyHandlers.ofString());
            assertEquals(200, page.statusCode());
        }
        assertTrue(System.nanoTime() - started < 10_000_000_000L, "start and close take seconds, not a Kafka timeout");
    }

    @Test
    void shouldNameTheKeyAndTheExpectedFormWhenAStartTimeIsNotATime() {
        ConfigException error = assertThrows(ConfigException.class, () -> new MonitorConfig(Map.of(
            MonitorConfig.BOOTSTRAP_SERVERS, "localhost:9092", MonitorConfig.START_TIME, "yesterday")));
        assertTrue(error.getMessage().contains("start.time") && error.getMessage().contains("ISO-8601"), error.getMessage());
    }

    @Test
    void shouldSayWhichPortIsTakenWhenTheDashboardCannotListen() throws Exception {
        try (Monitor first = Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "127.0.0.1:1", MonitorConfig.HTTP_PORT, 0))) {
            int port = first.url().getPort();
            java.io.IOException error = assertThrows(java.io.IOException.class, () -> Monitor.start(Map.of(
                MonitorConfig.BOOTSTRAP_SERVERS, "127.0.0.1:1", MonitorConfig.HTTP_PORT, port)));
            assertTrue(error.getMessage().contains("127.0.0.1:" + port) && error.getMessage().contains("choose another port"),
                error.getMessage());
        }
    }
}
