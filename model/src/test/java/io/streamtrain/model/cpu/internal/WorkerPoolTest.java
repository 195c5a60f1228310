package io.streamtrain.model.cpu.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class WorkerPoolTest {

    /** Counts how often each index runs and on how many distinct threads. */
    private static final class Counting extends WorkerPool.RangeTask {
        final AtomicIntegerArray runs;
        final int grain;
        volatile boolean misaligned;

        Counting(int n, int grain) {
            this.runs = new AtomicIntegerArray(n);
            this.grain = grain;
        }

        @Override
        public void run(int start, int end) {
            if (start % grain != 0 || (end - start != grain && end != runs.length())) {
                misaligned = true;
            }
            for (int i = start; i < end; i++) {
                runs.incrementAndGet(i);
            }
        }
    }

    @Test
    void shouldRunEveryIndexExactlyOnceInChunksOfTheGrainCallAfterCall() {
        try (WorkerPool pool = new WorkerPool(4, "test-pool")) {
            for (int call = 0; call < 3000; call++) {
                int n = 1 + call * 37 % 4001; // one chunk, many, and counts that grow and shrink
                Counting task = new Counting(n, 7);
                pool.parallelFor(task, n, 7);
                for (int i = 0; i < n; i++) {
                    assertEquals(1, task.runs.get(i), "runs of index " + i + " in call " + call);
                }
                assertFalse(task.misaligned, "chunk boundaries must be multiples of the grain");
            }
        }
    }

    @Test
    void shouldRethrowAFailureOfAnyThreadInTheCallerAndStayUsable() {
        try (WorkerPool pool = new WorkerPool(3, "test-pool")) {
            IllegalArgumentException failure = new IllegalArgumentException("bad index");
            WorkerPool.RangeTask failing = new WorkerPool.RangeTask() {
                @Override
                public void run(int start, int end) {
                    if (start <= 500 && 500 < end) {
                        throw failure;
                    }
                }
            };
            assertSame(failure, assertThrows(IllegalArgumentException.class, () -> pool.parallelFor(failing, 1000, 10)));
            Counting task = new Counting(1000, 10);
            pool.parallelFor(task, 1000, 10);
            for (int i = 0; i < 1000; i++) {
                assertEquals(1, task.runs.get(i));
            }
        }
    }

    @Test
    void shouldStopItsNamedDaemonThreadsOnClose() throws InterruptedException {
        WorkerPool pool = new WorkerPool(3, "closing-pool");
        List<Thread> workers = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("closing-pool-")) {
                workers.add(t);
                assertTrue(t.isDaemon(), t.getName() + " must be a daemon thread");
            }
        }
        assertEquals(2, workers.size(), "a pool of 3 threads has the caller and 2 workers");
        pool.close();
        for (Thread t : workers) {
            t.join(5_000);
            assertFalse(t.isAlive(), t.getName() + " still runs after close");
        }
        assertThrows(IllegalStateException.class, () -> pool.parallelFor(new Counting(10, 1), 10, 1));
    }
}
