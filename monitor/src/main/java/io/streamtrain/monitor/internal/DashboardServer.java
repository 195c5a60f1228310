package io.streamtrain.monitor.internal;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.streamtrain.monitor.RunStore;
import io.streamtrain.schemas.HttpAccess;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dashboard over the JDK {@link HttpServer}, with its own executor:
 * <ul>
 * <li>{@code GET /}: the page; {@code GET /static/NAME}: its script, style and the vendored uPlot;</li>
 * <li>{@code GET /api/snapshot}: everything the store holds, as {@link SnapshotJson};</li>
 * <li>{@code GET /api/events}: Server-Sent Events, one {@code update} event (a {@link SnapshotJson} of what changed)
 *     at most every {@value #BATCH_MILLIS} ms after a change, a comment every 15 s to keep the connection open;
 *     the event id {@code epoch:version} lets a reconnecting browser ({@code Last-Event-ID}) get only what it missed.</li>
 * </ul>
 */
public final class DashboardServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DashboardServer.class);
    private static final String WEB = "/io/streamtrain/monitor/web/";
    private static final Map<String, String> CONTENT_TYPES = Map.of(
        "html", "text/html; charset=utf-8", "js", "text/javascript; charset=utf-8", "css", "text/css; charset=utf-8",
        "txt", "text/plain; charset=utf-8", "LICENSE", "text/plain; charset=utf-8");
    /** Changes arriving within this time go in one event. */
    static final long BATCH_MILLIS = 150;
    private static final long KEEP_ALIVE_MILLIS = 15_000;
    /** Each live page holds one thread; more than this many at once get 503. */
    private static final int MAX_THREADS = 32;

    private final HttpServer server;
    private final ExecutorService executor;
    private final RunStore store;
    private final AtomicInteger liveStreams = new AtomicInteger();

    private DashboardServer(HttpServer server, ExecutorService executor, RunStore store) {
        this.server = server;
        this.executor = executor;
        this.store = store;
    }

    /** Binds {@code host:port} (port 0: a free one) and serves the store to clients that {@code access} admits. */
    public static DashboardServer start(String host, int port, HttpAccess access, RunStore store) throws IOException {
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(host, port), 64);
        } catch (IOException e) {
            throw new IOException("The dashboard cannot listen on " + host + ":" + port + " (" + e.getMessage()
                + "); choose another port (http.port / --port, 0 for any free one)", e);
        }
        ExecutorService executor = new ThreadPoolExecutor(2, MAX_THREADS, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
            DaemonThreads.named("streamtrain-monitor-http"),
            (runnable, pool) -> log.warn("The dashboard is busy ({} threads): a request was refused", MAX_THREADS));
        DashboardServer dashboard = new DashboardServer(server, executor, store);
        server.setExecutor(executor);
        server.createContext("/", dashboard::serveStatic).setAuthenticator(access);
        server.createContext("/api/snapshot", dashboard::serveSnapshot).setAuthenticator(access);
        server.createContext("/api/events", dashboard::serveEvents).setAuthenticator(access);
        server.start();
        return dashboard;
    }

    /** Where a browser finds the page, e.g. {@code http://127.0.0.1:8080/}. */
    public URI url() {
        InetSocketAddress address = server.getAddress();
        String host = address.getAddress().isAnyLocalAddress() ? "localhost" : address.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return URI.create("http://" + host + ":" + address.getPort() + "/");
    }

    private void serveStatic(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            String name = path.equals("/") ? "index.html" : path.startsWith("/static/") ? path.substring("/static/".length()) : null;
            if (!exchange.getRequestMethod().equals("GET") || name == null || name.isEmpty() || name.contains("/") || name.contains("..")) {
                sendText(exchange, 404, "Not found: " + path + " (the dashboard is at /)");
                return;
            }
            try (InputStream resource = DashboardServer.class.getResourceAsStream(WEB + name)) {
                if (resource == null) {
                    sendText(exchange, 404, "Not found: " + path);
                    return;
                }
                byte[] body = resource.readAllBytes();
                String extension = name.substring(name.lastIndexOf('.') + 1);
                exchange.getResponseHeaders().set("Content-Type", CONTENT_TYPES.getOrDefault(extension, "application/octet-stream"));
                exchange.getResponseHeaders().set("Cache-Control", "no-cache");
                exchange.sendResponseHeaders(200, body.length);
                exchange.getResponseBody().write(body);
            }
        }
    }

    private void serveSnapshot(HttpExchange exchange) throws IOException {
        try (exchange) {
            byte[] body = SnapshotJson.encode(store.changesSince(0));
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.getResponseHeaders().set("Cache-Control", "no-store");
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
        }
    }

    private void serveEvents(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (liveStreams.incrementAndGet() > MAX_THREADS - 4) {
                sendText(exchange, 503, "Too many live dashboards are open; close one or use /api/snapshot");
                return;
            }
            exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
            exchange.getResponseHeaders().set("Cache-Control", "no-store");
            exchange.sendResponseHeaders(200, 0);
            OutputStream out = exchange.getResponseBody();
            long sent = lastEventVersion(exchange.getRequestHeaders().getFirst("Last-Event-ID"));
            out.write("retry: 2000\n\n".getBytes(StandardCharsets.UTF_8));
            boolean first = true;
            while (true) {
                RunStore.Changes changes = store.changesSince(sent);
                if (first || changes.version() != sent) {
                    first = false;
                    out.write(("id: " + changes.epoch() + ":" + changes.version() + "\nevent: update\ndata: ")
                        .getBytes(StandardCharsets.UTF_8));
                    out.write(SnapshotJson.encode(changes));
                    out.write("\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    sent = changes.version();
                }
                if (store.awaitChange(sent, KEEP_ALIVE_MILLIS)) {
                    Thread.sleep(BATCH_MILLIS);
                } else {
                    out.write(": keep-alive\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            }
        } catch (IOException e) {
            // The browser went away: nothing to do.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            liveStreams.decrementAndGet();
        }
    }

    /** The version a reconnecting browser saw, when it saw this store; 0 (everything) otherwise. */
    private long lastEventVersion(String lastEventId) {
        if (lastEventId == null || !lastEventId.startsWith(store.epoch() + ":")) {
            return 0;
        }
        try {
            return Long.parseLong(lastEventId.substring(store.epoch().length() + 1));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static void sendText(HttpExchange exchange, int status, String text) throws IOException {
        byte[] body = text.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, body.length);
        exchange.getResponseBody().write(body);
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
