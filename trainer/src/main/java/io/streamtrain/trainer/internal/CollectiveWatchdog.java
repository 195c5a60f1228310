package io.streamtrain.trainer.internal;

import java.time.Duration;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Bounds every wait of a rank on the others, so that a dead or hung peer never holds the world for ever. A rank runs
 * each collective phase (the round's exchange, the training step with its all-reduce, the checkpoint's gather) through
 * {@link #guard}; a thread of the watchdog polls, every {@code poll} while a phase is in flight, the communicator's
 * asynchronous error (NCCL's {@code ncclCommGetAsyncError}; none for TCP) and the phase's deadline. On an error, or
 * when the phase outlives {@code timeout}, it records why and runs {@code abort} (NCCL's {@code ncclCommAbort}, which
 * ends the all-reduce the GPU is stuck in; closing the TCP sockets, which ends a blocked read), and {@link #guard}
 * then throws an {@link IllegalStateException} that names the world, the rank and the phase, whatever the aborted
 * phase itself threw. Once aborted, the watchdog stays so: the world is over and is restarted from its checkpoint.
 */
public final class CollectiveWatchdog implements AutoCloseable {
    private final String who;
    private final Duration timeout;
    private final Supplier<String> asyncError;
    private final Runnable abort;
    private final Thread thread;
    private final long pollNanos;
    private volatile long deadline;     // System.nanoTime() of the phase in flight's deadline; 0 when idle
    private volatile String phase = "";
    private volatile String failure;    // why it aborted; null while the world stands
    private volatile boolean closed;

    /**
     * @param who        the rank and its world, for the error ("rank 1 of world 'trainer' (generation 3, 2 ranks)")
     * @param timeout    the longest one phase may wait for the others
     * @param poll       how often the error state and the deadline are checked while a phase is in flight
     * @param asyncError the communicator's asynchronous error, null while none; {@code () -> null} for none
     * @param abort      stops the communicator so that a blocked phase returns (called at most once, on the
     *                   watchdog's thread)
     */
    public CollectiveWatchdog(String who, Duration timeout, Duration poll, Supplier<String> asyncError,
                              Runnable abort) {
        if (timeout.isNegative() || timeout.isZero() || poll.isNegative() || poll.isZero()) {
            throw new IllegalArgumentException("timeout and poll must be positive, got " + timeout + " and " + poll);
        }
        this.who = Objects.requireNonNull(who, "who");
        this.timeout = timeout;
        this.pollNanos = poll.toNanos();
        this.asyncError = Objects.requireNonNull(asyncError, "asyncError");
        this.abort = Objects.requireNonNull(abort, "abort");
        this.thread = new Thread(this::watch, "streamtrain-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    /**
     * Runs {@code work}, a phase that waits for the other ranks, under the deadline.
     *
     * @throws IllegalStateException naming the world, the rank and the phase when the watchdog aborted the world
     *                               (now or before)
     */
    public <T> T guard(String phase, Supplier<T> work) {
        throwIfFailed(null);
        this.phase = phase;
        deadline = Math.max(1, System.nanoTime() + timeout.toNanos());
        T result;
        try {
            result = work.get();
        } catch (RuntimeException | Error e) {
            deadline = 0;
            throwIfFailed(e);
            throw e;
        }
        deadline = 0;
        throwIfFailed(null);
        return result;
    }

    /** Why the watchdog stopped the world, or null while it stands. */
    public String failure() {
        return failure;
    }

    private void throwIfFailed(Throwable cause) {
        String why = failure;
        if (why != null) {
            throw new IllegalStateException(why, cause);
        }
    }

    private void watch() {
        while (!closed && failure == null) {
            long sleep = pollNanos;
            long due = deadline;
            if (due != 0) {
                String error;
                try {
                    error = asyncError.get();
                } catch (RuntimeException e) {
                    error = "its error state cannot be read: " + e.getMessage();
                }
                if (error != null) {
                    fail(who + " stopped the world during " + phase + ": the communicator reports " + error
                            + " (a peer died or failed); restart every rank to resume from the last checkpoint");
                    return;
                }
                long now = System.nanoTime();
                if (now - due >= 0 && deadline == due) {
                    fail(who + " waited more than " + timeout.toMillis() + " ms (world.timeout.ms) for the other ranks"
                            + " during " + phase + " and stopped the world: a rank is dead or hung; restart every rank"
                            + " to resume from the last checkpoint");
                    return;
                }
                sleep = Math.min(sleep, Math.max(1, due - now));
            }
            try {
                Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
            } catch (InterruptedException e) {
                return; // closed
            }
        }
    }

    private void fail(String why) {
        failure = why;
        abort.run();
    }

    /** Stops the watchdog's thread (the communicator is not touched). */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
