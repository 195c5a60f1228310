package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.dataParallel;
import static io.streamtrain.monitor.TrainingRecords.metrics;
import static io.streamtrain.monitor.TrainingRecords.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.streamtrain.monitor.internal.DashboardServer;
import io.streamtrain.schemas.HttpAccess;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The dashboard's HTTP endpoints over a real socket, read by the JDK HTTP client. */
class DashboardServerTest {
    private final HttpClient http = HttpClient.newHttpClient();
    private final ObjectMapper json = new ObjectMapper();

    @Test
    void shouldServeThePageTheVendoredChartLibraryAndASnapshotWhenAsked() throws Exception {
        RunStore store = new RunStore();
        store.putMetrics(metrics("run-a", 1));
        store.putMetrics(metrics("run-a", 2, Double.NaN));
        store.putSample(sample("run-a", 2, "Speak."));
        try (DashboardServer server = DashboardServer.start("127.0.0.1", 0, HttpAccess.token(""), store)) {
            HttpResponse<String> page = get(server.url(), null);
            assertEquals(200, page.statusCode());
            assertTrue(page.body().contains("<script src=\"/static/uPlot.iife.min.js\">"), "the page loads uPlot from this server, not a CDN");
            HttpResponse<String> uplot = get(server.url().resolve("/static/uPlot.iife.min.js"), null);
            assertEquals(200, uplot.statusCode());
            assertTrue(uplot.body().contains("uPlot"));
            assertEquals(404, get(server.url().resolve("/static/../secret"), null).statusCode());

            JsonNode snapshot = json.readTree(get(server.url().resolve("/api/snapshot"), null).body());
            assertEquals(2, snapshot.path("metrics").size());
            assertTrue(snapshot.path("metrics").get(1).path("loss").isNull(), "NaN travels as null");
            assertEquals("Speak.", snapshot.path("samples").get(0).path("generated").asText());
            assertEquals("run-a", snapshot.path("runs").get(0).asText());
        }
    }

    @Test
    void shouldServeTheRanksGlobalRowsAndAllReduceTimeOfADataParallelStepAndNullsForOneModel() throws Exception {
        RunStore store = new RunStore();
        store.putMetrics(metrics("one-model", 1));
        store.putMetrics(dataParallel(metrics("two-ranks", 1), 2, 8, 1.25));
        store.putMetrics(dataParallel(metrics("nccl", 1), 4, 16, null)); // NCCL: the all-reduce is inside the compute time
        try (DashboardServer server = DashboardServer.start("127.0.0.1", 0, HttpAccess.token(""), store)) {
            JsonNode metrics = json.readTree(get(server.url().resolve("/api/snapshot"), null).body()).path("metrics");
            assertEquals(3, metrics.size());
            JsonNode one = metrics.get(0);
            for (String field : new String[] {"ranks", "globalRows", "allReduceMillis"}) {
                assertTrue(one.has(field) && one.path(field).isNull(), field + " is null for one model: " + one);
            }
            JsonNode two = metrics.get(1);
            assertEquals(2, two.path("ranks").asInt(), two.toString());
            assertEquals(8, two.path("globalRows").asInt(), two.toString());
            assertEquals(1.25, two.path("allReduceMillis").asDouble(), 0, two.toString());
            JsonNode nccl = metrics.get(2);
            assertEquals(4, nccl.path("ranks").asInt(), nccl.toString());
            assertTrue(nccl.path("allReduceMillis").isNull(), nccl.toString());
        }
    }

    @Test
    void shouldSendOnlyWhatWasMissedWhenABrowserReconnectsWithItsLastEventId() throws Exception {
        RunStore store = new RunStore();
        for (long step = 1; step <= 3; step++) {
            store.putMetrics(metrics("run-a", step));
        }
        String lastEventId = store.epoch() + ":" + store.version();
        store.putMetrics(metrics("run-a", 4));
        try (DashboardServer server = DashboardServer.start("127.0.0.1", 0, HttpAccess.token(""), store)) {
            JsonNode resumed = firstEvent(server.url().resolve("/api/events"), lastEventId);
            assertEquals(false, resumed.path("complete").asBoolean());
            assertEquals(1, resumed.path("metrics").size());
            assertEquals(4, resumed.path("metrics").get(0).path("step").asLong());

            JsonNode fresh = firstEvent(server.url().resolve("/api/events"), "another-store:3");
            assertEquals(true, fresh.path("complete").asBoolean(), "an id of another store gets everything");
            assertEquals(4, fresh.path("metrics").size());
        }
    }

    private HttpResponse<String> get(URI uri, String lastEventId) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri);
        if (lastEventId != null) {
            request.header("Last-Event-ID", lastEventId);
        }
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Reads the event stream until its first {@code update} event and returns the event's data. */
    private JsonNode firstEvent(URI events, String lastEventId) throws Exception {
        HttpResponse<InputStream> response = http.send(HttpRequest.newBuilder(events).header("Last-Event-ID", lastEventId).build(),
            HttpResponse.BodyHandlers.ofInputStream());
        assertEquals("text/event-stream; charset=utf-8", response.headers().firstValue("Content-Type").orElse(""));
        try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
            CompletableFuture<String> data = CompletableFuture.supplyAsync(() -> reader.lines()
                .filter(line -> line.startsWith("data: ")).findFirst().orElseThrow().substring("data: ".length()));
            return json.readTree(data.get(10, TimeUnit.SECONDS));
        }
    }
}
