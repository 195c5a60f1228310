package io.streamtrain.monitor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.schemas.HttpAccess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** The dashboard shows training text: loopback by default, elsewhere only with a token unless told otherwise. */
class DashboardAccessTest {
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void bindingTheDashboardBeyondLoopbackWithoutATokenIsRefusedUnlessAllowed() {
        assertEquals("127.0.0.1", new MonitorConfig(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "x:1")).httpHost());
        ConfigException error = assertThrows(ConfigException.class, () -> new MonitorConfig(Map.of(
            MonitorConfig.BOOTSTRAP_SERVERS, "x:1", MonitorConfig.HTTP_HOST, "0.0.0.0")));
        assertTrue(error.getMessage().contains("http.host") && error.getMessage().contains(HttpAccess.TOKEN)
            && error.getMessage().contains(HttpAccess.ALLOW_UNAUTHENTICATED), error.getMessage());
        new MonitorConfig(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "x:1", MonitorConfig.HTTP_HOST, "0.0.0.0",
            HttpAccess.ALLOW_UNAUTHENTICATED, true));
        new MonitorConfig(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "x:1", MonitorConfig.HTTP_HOST, "0.0.0.0",
            HttpAccess.TOKEN, "s3cret"));
    }

    @Test
    void withATokenEveryPageNeedsItAsBearerOrBasicPassword() throws Exception {
        try (Monitor monitor = Monitor.start(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, "127.0.0.1:1", MonitorConfig.HTTP_PORT, 0,
                MonitorConfig.HTTP_HOST, "0.0.0.0", HttpAccess.TOKEN, "s3cret"))) {
            URI page = URI.create("http://127.0.0.1:" + monitor.url().getPort() + "/");
            URI snapshot = page.resolve("/api/snapshot");
            HttpResponse<String> refused = get(snapshot, null);
            assertEquals(401, refused.statusCode());
            assertTrue(refused.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Basic"),
                "a browser asks for the token");
            assertEquals(401, get(page, "Bearer wrong").statusCode());
            assertEquals(401, get(page, basic("viewer", "wrong")).statusCode());
            assertEquals(200, get(page, "Bearer s3cret").statusCode());
            assertEquals(200, get(snapshot, basic("anyone", "s3cret")).statusCode());
        }
    }

    private static String basic(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    private static HttpResponse<String> get(URI uri, String authorization) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri);
        if (authorization != null) {
            request.header("Authorization", authorization);
        }
        return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }
}
