package io.streamtrain.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The all-reduce of replicas in one process, one thread per replica (as {@link DataParallelGpt} runs them): each
 * replica copies its buffer to the host, waits for the others, sums one contiguous share of the elements over all
 * replicas <em>in rank order</em> (r0 + r1 + ... in float), waits again and copies the sum back. The order of every
 * sum is fixed by the rank count alone, so results are the same bits on every run, whatever the threads' timing.
 *
 * <p>A replica that fails must {@link #abort} the world, so that the others stop waiting with an
 * {@link IllegalStateException} instead of hanging; an aborted world stays stopped (make a new one).
 */
public final class InProcessReducer implements GradientReducer {

    /** What the replicas of one world share. */
    private static final class World {
        final int size;
        final CyclicBarrier barrier;
        final float[][] contributions;
        float[] sum = new float[0];
        volatile boolean aborted;

        World(int size) {
            this.size = size;
            this.barrier = new CyclicBarrier(size);
            this.contributions = new float[size][0];
        }
    }

    /** The message of a replica stopped by another's failure. */
    static final String STOPPED = " stopped: another replica of the world failed";

    private final World world;
    private final int rank;
    private volatile long reduceNanos; // written by this replica's thread only

    private InProcessReducer(World world, int rank) {
        this.world = world;
        this.rank = rank;
    }

    /** The reducers of a world of {@code replicas} replicas, by rank. */
    public static List<InProcessReducer> world(int replicas) {
        if (replicas <= 0) {
            throw new IllegalArgumentException("a world has at least one replica, got " + replicas);
        }
        World world = new World(replicas);
        List<InProcessReducer> reducers = new ArrayList<>(replicas);
        for (int r = 0; r < replicas; r++) {
            reducers.add(new InProcessReducer(world, r));
        }
        return Collections.unmodifiableList(reducers);
    }

    @Override
    public int worldSize() {
        return world.size;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public long reduceNanos() {
        return reduceNanos;
    }

    @Override
    public void allReduceSum(Kernels kernels, Tensor buffer) {
        if (world.size == 1) {
            return;
        }
        long start = System.nanoTime();
        try {
            sum(kernels, buffer);
        } finally {
            reduceNanos += System.nanoTime() - start;
        }
    }

    private void sum(Kernels kernels, Tensor buffer) {
        int n = Math.toIntExact(buffer.size());
        float[] mine = world.contributions[rank];
        if (mine.length != n) {
            mine = new float[n]; // a buffer of another size (gradients, then the figures): kept per size in use
            world.contributions[rank] = mine;
        }
        kernels.read(mine, 0, buffer);
        if (rank == 0 && world.sum.length != n) {
            world.sum = new float[n]; // before the barrier, which publishes it to the others
        }
        await();
        float[] sum = world.sum;
        if (sum.length != n) {
            throw new IllegalStateException("replica " + rank + " all-reduces " + n + " elements but replica 0 "
                    + sum.length + ": every replica must reduce the same buffers in the same order");
        }
        int from = (int) ((long) n * rank / world.size);
        int to = (int) ((long) n * (rank + 1) / world.size);
        float[][] parts = world.contributions;
        for (int i = from; i < to; i++) {
            float s = parts[0][i];
            for (int r = 1; r < world.size; r++) {
                s += parts[r][i];
            }
            sum[i] = s;
        }
        await();
        kernels.write(buffer, sum, 0);
    }

    /** Stops the world for good: replicas waiting in {@link #allReduceSum}, now or later, fail at once. */
    public void abort() {
        world.aborted = true;
        try {
            world.barrier.await(0, TimeUnit.NANOSECONDS); // a timed-out wait breaks the barrier for every waiter
        } catch (TimeoutException | BrokenBarrierException e) {
            // broken, as meant
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void await() {
        try {
            if (!world.aborted) {
                world.barrier.await();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abort();
            throw new IllegalStateException("replica " + rank + " was interrupted while waiting for the others", e);
        } catch (BrokenBarrierException e) {
            world.aborted = true;
        }
        if (world.aborted) {
            throw new IllegalStateException("replica " + rank + STOPPED);
        }
    }
}
