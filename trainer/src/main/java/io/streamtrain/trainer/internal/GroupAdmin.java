package io.streamtrain.trainer.internal;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.common.KafkaFuture;

/**
 * The waiting side of the Admin calls that the trainer's start ({@link GroupPosition}) and {@code replay} make: each
 * waits at most {@code timeout}, and a failure becomes the caller's own exception, built from what was being done
 * and the broker's cause (the interrupt flag is kept).
 */
public final class GroupAdmin {
    private final Admin admin;
    private final Duration timeout;
    private final BiFunction<String, Throwable, RuntimeException> failure;

    /**
     * @param failure the exception to throw for (what, cause), e.g. "describe group g" and the broker's error; its
     *                message should say what to check
     */
    public GroupAdmin(Admin admin, Duration timeout, BiFunction<String, Throwable, RuntimeException> failure) {
        this.admin = admin;
        this.timeout = timeout;
        this.failure = failure;
    }

    /** The future's value, within the timeout. */
    public <T> T get(KafkaFuture<T> future, String what) {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | InterruptedException | TimeoutException e) {
            throw failure(what, e);
        }
    }

    /**
     * The future's value, within the timeout; empty when it fails with one of {@code expected} (a group or topic
     * that does not exist, one that already does), and also when it succeeds with no value ({@code Void}).
     */
    @SafeVarargs
    public final <T> Optional<T> getUnless(KafkaFuture<T> future, String what,
                                           Class<? extends Throwable>... expected) {
        try {
            return Optional.ofNullable(future.get(timeout.toMillis(), TimeUnit.MILLISECONDS));
        } catch (ExecutionException e) {
            for (Class<? extends Throwable> type : expected) {
                if (type.isInstance(e.getCause())) {
                    return Optional.empty();
                }
            }
            throw failure(what, e);
        } catch (InterruptedException | TimeoutException e) {
            throw failure(what, e);
        }
    }

    private RuntimeException failure(String what, Exception e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
        return failure.apply(what, cause);
    }
}
