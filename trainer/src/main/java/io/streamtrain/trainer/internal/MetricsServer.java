package io.streamtrain.trainer.internal;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.streamtrain.schemas.HttpAccess;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The trainer's HTTP endpoints, a JDK HttpServer with its own small daemon executor: {@code GET /metrics} (the
 * Prometheus scrape, behind {@link HttpAccess}), and for orchestrators {@code GET /healthz} (200 while the trainer
 * has not failed) and {@code GET /readyz} (200 while it trains: model resident and Kafka Streams RUNNING); each
 * answers 503 with the reason otherwise. The health endpoints say no more than that, so they need no token.
 */
public final class MetricsServer implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService executor;

    private MetricsServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Serves on {@code host:port} (port 0 = any free port).
     *
     * @param unhealthy why the trainer is not healthy, or empty
     * @param notReady  why it is not ready to train, or empty
     */
    public static MetricsServer start(PrometheusMeterRegistry registry, String host, int port, HttpAccess access,
                                      Supplier<Optional<String>> unhealthy, Supplier<Optional<String>> notReady)
            throws IOException {
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(host, port), 0);
        } catch (IOException e) {
            throw new IOException("cannot serve /metrics on " + host + ":" + port + ": " + e.getMessage()
                    + "; choose another metrics.port, or 0 to turn the endpoint off", e);
        }
        ExecutorService executor = Executors.newFixedThreadPool(2, runnable -> {
            Thread thread = new Thread(runnable, "streamtrain-metrics-http");
            thread.setDaemon(true);
            return thread;
        });
        server.createContext("/metrics", exchange -> respond(exchange, 200, "text/plain; version=0.0.4; charset=utf-8",
                registry.scrape())).setAuthenticator(access);
        server.createContext("/healthz", exchange -> probe(exchange, unhealthy.get(), "healthy"));
        server.createContext("/readyz", exchange -> probe(exchange, notReady.get(), "ready"));
        server.setExecutor(executor);
        server.start();
        return new MetricsServer(server, executor);
    }

    private static void probe(HttpExchange exchange, Optional<String> problem, String good) throws IOException {
        respond(exchange, problem.isPresent() ? 503 : 200, "text/plain; charset=utf-8", problem.orElse(good) + "\n");
    }

    private static void respond(HttpExchange exchange, int status, String contentType, String text) throws IOException {
        try (exchange) {
            String method = exchange.getRequestMethod();
            if (!method.equals("GET") && !method.equals("HEAD")) {
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            byte[] body = text.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", contentType);
            exchange.getResponseHeaders().set("Cache-Control", "no-store");
            exchange.sendResponseHeaders(status, method.equals("HEAD") ? -1 : body.length);
            if (method.equals("GET")) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    /** The port actually bound. */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdown();
        try {
            executor.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
