package io.streamtrain.producer.internal;

import io.streamtrain.producer.ProducerException;
import io.streamtrain.tokenizer.Tokenizer;

import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Tokenizes documents on a fixed pool of threads and hands them on in the order they came in. At most
 * {@code 4 * threads} documents are in flight: the reading thread waits for the oldest when the window is full, so
 * memory stays bounded whatever the corpus size. The tokenizer must be safe for concurrent {@code encode} calls
 * (every {@link Tokenizer} of this project is: encoding holds no mutable state).
 */
public final class TokenizingPipeline implements AutoCloseable {
    /** A document and its ids. */
    public record Encoded(Document document, int[] ids) {}

    private final Tokenizer tokenizer;
    private final ExecutorService pool;
    private final int window;
    private final ArrayDeque<Future<Encoded>> inFlight = new ArrayDeque<>();
    private final Consumer<Encoded> sink;

    /** @param sink receives each document with its ids, in the order of {@link #accept}, on the calling thread */
    public TokenizingPipeline(Tokenizer tokenizer, int threads, Consumer<Encoded> sink) {
        this.tokenizer = tokenizer;
        this.sink = sink;
        this.window = 4 * threads;
        this.pool = Executors.newFixedThreadPool(threads, runnable -> {
            Thread thread = new Thread(runnable, "streamtrain-tokenizer");
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Queues {@code document} for tokenization; may first hand on finished documents (always in order). */
    public void accept(Document document) {
        if (inFlight.size() >= window) {
            handOnOldest();
        }
        inFlight.addLast(pool.submit(() -> encode(document)));
        while (!inFlight.isEmpty() && inFlight.peekFirst().isDone()) {
            handOnOldest();
        }
    }

    private Encoded encode(Document document) {
        try {
            return new Encoded(document, tokenizer.encode(document.text()));
        } catch (RuntimeException e) {
            throw new ProducerException("tokenizer " + tokenizer.name() + " failed on document " + document.id()
                    + " (" + document.source() + "): " + e + "; this is a bug in the tokenizer, please report it"
                    + " with that document", e);
        }
    }

    /** Waits for every queued document and hands it on. */
    public void flush() {
        while (!inFlight.isEmpty()) {
            handOnOldest();
        }
    }

    private void handOnOldest() {
        Future<Encoded> oldest = inFlight.removeFirst();
        Encoded encoded;
        try {
            encoded = oldest.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ProducerException("interrupted while tokenizing", e);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof ProducerException fatal ? fatal
                    : new ProducerException("tokenizer " + tokenizer.name() + " failed: " + e.getCause(), e.getCause());
        }
        sink.accept(encoded);
    }

    @Override
    public void close() {
        pool.shutdownNow();
        try {
            pool.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
