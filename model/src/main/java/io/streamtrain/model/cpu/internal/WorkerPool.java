package io.streamtrain.model.cpu.internal;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of daemon threads that run a {@link RangeTask} over [0, n) in chunks of {@code grain}
 * indices, the calling thread working alongside them. Nothing is allocated per call: the task is a
 * reusable object whose fields the kernel sets before {@link #parallelFor}.
 *
 * <p>Chunk boundaries depend only on n and grain, never on the number of threads, so a kernel whose
 * chunks write disjoint outputs (or per-chunk partial results reduced in chunk order) gives the same
 * bits with one thread or many.
 */
public final class WorkerPool implements AutoCloseable {

    /** Work over a range of indices; one object per kernel, its arguments in fields. */
    public abstract static class RangeTask {
        /** Processes indices [start, end). */
        public abstract void run(int start, int end);
    }

    /** Busy-wait iterations before a waiting thread parks: kernels follow each other within microseconds. */
    private static final int SPINS = 20_000;

    private final Thread[] workers;
    /** generation << 32 | index of the next unclaimed chunk; its volatile writes publish the fields below. */
    private final AtomicLong cursor = new AtomicLong();
    /**
     * generation << 32 | number of chunks, written before the cursor of that generation: a thread still
     * looking at an older cursor sees here that its generation is over, and never checks an old index
     * against a newer chunk count.
     */
    private volatile long generationSize;
    private final AtomicInteger completed = new AtomicInteger();
    private RangeTask task;
    private int n;
    private int grain;
    private int generation;
    private volatile Thread caller;
    private volatile Throwable failure;
    private volatile boolean closed;

    /** A pool of {@code threads} threads in all: the caller and {@code threads - 1} workers named {@code name-i}. */
    public WorkerPool(int threads, String name) {
        if (threads < 1) {
            throw new IllegalArgumentException("a worker pool needs at least 1 thread, got " + threads);
        }
        workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Thread(this::work, name + "-" + (i + 1));
            workers[i].setDaemon(true);
            workers[i].start();
        }
    }

    /** Threads that share the work, the caller included. */
    public int threads() {
        return workers.length + 1;
    }

    /** Rows per chunk so that a chunk holds about 64K multiply-adds of {@code workPerRow} each: enough to pay for a hand-off. */
    public static int rowsPerChunk(long workPerRow) {
        return (int) Math.max(1, Math.min(1 << 20, (1 << 16) / Math.max(1, workPerRow)));
    }

    /** Runs {@code task} over [0, n) in chunks of {@code grain} and returns when every chunk is done. */
    public void parallelFor(RangeTask task, int n, int grain) {
        if (closed) {
            throw new IllegalStateException("the CPU kernels are closed: create a new CpuKernels");
        }
        if (n <= 0) {
            return;
        }
        int chunkCount = (n + grain - 1) / grain;
        if (chunkCount == 1 || workers.length == 0) {
            for (int start = 0; start < n; start += grain) {
                task.run(start, Math.min(n, start + grain));
            }
            return;
        }
        this.task = task;
        this.n = n;
        this.grain = grain;
        completed.set(0);
        caller = Thread.currentThread();
        int gen = ++generation;
        generationSize = (long) gen << 32 | chunkCount;
        cursor.set((long) gen << 32);
        for (Thread worker : workers) {
            LockSupport.unpark(worker);
        }
        runChunks(gen);
        int spins = 0;
        while (completed.get() < chunkCount) {
            if (spins++ < SPINS) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this);
            }
        }
        this.task = null;
        Throwable thrown = failure;
        if (thrown != null) {
            failure = null;
            if (thrown instanceof RuntimeException e) {
                throw e;
            }
            if (thrown instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException("a CPU kernel failed on a worker thread", thrown);
        }
    }

    /** Claims and runs chunks of generation {@code gen} until none is left. */
    private void runChunks(int gen) {
        while (true) {
            long c = cursor.get();
            long size = generationSize;
            int chunks = (int) size;
            if ((int) (c >>> 32) != gen || (int) (size >>> 32) != gen || (int) c >= chunks) {
                return;
            }
            if (!cursor.compareAndSet(c, c + 1)) {
                continue;
            }
            // The claim succeeded, so this generation is unfinished and its fields are stable.
            int start = (int) c * grain;
            int end = Math.min(n, start + grain);
            try {
                task.run(start, end);
            } catch (Throwable t) {
                failure = t;
            }
            if (completed.incrementAndGet() == chunks) {
                LockSupport.unpark(caller);
            }
        }
    }

    private void work() {
        int seen = 0;
        int spins = 0;
        while (!closed) {
            int gen = (int) (cursor.get() >>> 32);
            if (gen != seen) {
                seen = gen;
                runChunks(gen);
                spins = 0;
            } else if (spins++ < SPINS) {
                Thread.onSpinWait();
            } else {
                LockSupport.park(this);
            }
        }
    }

    /** Stops the worker threads. */
    @Override
    public void close() {
        closed = true;
        for (Thread worker : workers) {
            LockSupport.unpark(worker);
        }
    }
}
