package io.streamtrain.cuda.internal;

import java.util.concurrent.locks.LockSupport;
import java.util.function.IntSupplier;

/**
 * Waits for a call on a non-blocking NCCL communicator: reads the communicator's state
 * ({@code ncclCommGetAsyncError}) until it leaves {@code ncclInProgress} or the time is up. The first reads come
 * quickly (a call that only sets up connections ends in microseconds to milliseconds), then every
 * {@value #LONGEST_POLL_MILLIS} ms.
 */
public final class NcclStateWait {
    /** The longest pause between two reads of the state. */
    public static final long LONGEST_POLL_MILLIS = 10;
    private static final long FIRST_POLL_NANOS = 20_000;

    private NcclStateWait() {
    }

    /**
     * The state that ended the wait: {@link NcclLibrary#SUCCESS}, an error, or {@link NcclLibrary#IN_PROGRESS} when
     * {@code timeoutNanos} passed first or the thread was interrupted (its interrupt flag kept).
     *
     * @param state reads the communicator's state (an {@code ncclResult_t})
     */
    public static int await(IntSupplier state, long timeoutNanos) {
        long deadline = System.nanoTime() + timeoutNanos;
        long pause = FIRST_POLL_NANOS;
        while (true) {
            int now = state.getAsInt();
            if (now != NcclLibrary.IN_PROGRESS) {
                return now;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0 || Thread.currentThread().isInterrupted()) {
                return NcclLibrary.IN_PROGRESS;
            }
            LockSupport.parkNanos(Math.min(pause, left));
            pause = Math.min(2 * pause, LONGEST_POLL_MILLIS * 1_000_000);
        }
    }
}
