package io.streamtrain.cuda.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.jna.Pointer;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * What NCCL's non-blocking initialisation rests on, on every machine: the {@code ncclConfig_t} we hand NCCL, and the
 * wait for a communicator's state with the real clock (the GPU half is {@code NcclTest}).
 */
class NcclNonBlockingTest {
    private static final long MS = 1_000_000;

    @Test
    void shouldLayTheConfigOutAsNcclTwoFourteensHeaderInitialisesIt() {
        NcclLibrary.NonBlockingConfig config = new NcclLibrary.NonBlockingConfig();
        config.write();
        Pointer bytes = config.getPointer();
        // struct ncclConfig_v21400 { size_t size; unsigned int magic; unsigned int version; int blocking; }
        assertEquals(24, config.size(), "sizeof(ncclConfig_v21400) on x86-64");
        assertEquals(24, bytes.getLong(0), "size, as NCCL_CONFIG_INITIALIZER sets it");
        assertEquals(0xcafebeef, bytes.getInt(8), "magic: NCCL_API_MAGIC");
        assertEquals(21400, bytes.getInt(12), "version: NCCL_VERSION(2, 14, 0)");
        assertEquals(0, bytes.getInt(16), "blocking = 0");
    }

    @Test
    void shouldGiveUpAtTheDeadlineWhileTheStateStaysInProgress() {
        AtomicInteger reads = new AtomicInteger();
        long start = System.nanoTime();
        int state = NcclStateWait.await(() -> {
            reads.incrementAndGet();
            return NcclLibrary.IN_PROGRESS;
        }, 300 * MS);
        long waited = (System.nanoTime() - start) / MS;
        assertEquals(NcclLibrary.IN_PROGRESS, state);
        assertTrue(waited >= 300 && waited < 2_300, "waited " + waited + " ms for a 300 ms deadline");
        assertTrue(reads.get() > 10, "read the state " + reads + " times");
    }

    @Test
    void shouldReturnSoonAfterTheStateLeavesInProgress() {
        long start = System.nanoTime();
        int state = NcclStateWait.await(() -> System.nanoTime() - start < 200 * MS
                ? NcclLibrary.IN_PROGRESS : NcclLibrary.SUCCESS, 60_000 * MS);
        long waited = (System.nanoTime() - start) / MS;
        assertEquals(NcclLibrary.SUCCESS, state);
        assertTrue(waited >= 200 && waited < 200 + NcclStateWait.LONGEST_POLL_MILLIS + 2_000,
                "waited " + waited + " ms for a state that changed after 200 ms");
    }

    @Test
    void shouldReturnAnErrorAtItsFirstRead() {
        AtomicInteger reads = new AtomicInteger();
        int remoteError = 6; // ncclRemoteError
        assertEquals(remoteError, NcclStateWait.await(() -> {
            reads.incrementAndGet();
            return remoteError;
        }, 60_000 * MS));
        assertEquals(1, reads.get());
    }

    @Test
    void shouldStopWaitingWhenInterruptedAndKeepTheInterrupt() {
        Thread.currentThread().interrupt();
        try {
            long start = System.nanoTime();
            assertEquals(NcclLibrary.IN_PROGRESS, NcclStateWait.await(() -> NcclLibrary.IN_PROGRESS, 60_000 * MS));
            assertTrue((System.nanoTime() - start) / MS < 2_000);
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt is kept for the caller");
        } finally {
            Thread.interrupted();
        }
    }
}
