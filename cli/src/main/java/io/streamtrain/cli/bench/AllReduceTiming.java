package io.streamtrain.cli.bench;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.trainer.Backends;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The time of one all-reduce of the gradients, for {@code bench --replicas}: every replica's thread all-reduces a
 * buffer of the gradients' size and waits for the result (one element read back), {@code rounds} times after one
 * untimed round; rank 0's wall time per round.
 */
final class AllReduceTiming {
    private AllReduceTiming() {}

    static double millisecondsPerAllReduce(Backends.Replicas replicas, long elements, int rounds) {
        int n = replicas.kernels().size();
        ExecutorService threads = Executors.newFixedThreadPool(n);
        try {
            CyclicBarrier start = new CyclicBarrier(n);
            List<Future<Long>> results = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                results.add(threads.submit(() -> {
                    Kernels kernels = replicas.kernels().get(rank);
                    Tensor buffer = kernels.allocate(elements);
                    float[] one = new float[1];
                    long began = 0;
                    for (int round = 0; round <= rounds; round++) {
                        start.await();
                        if (round == 1) {
                            began = System.nanoTime();
                        }
                        replicas.reducers().get(rank).allReduceSum(kernels, buffer);
                        kernels.read(one, 0, buffer.slice(0, 1));
                    }
                    return System.nanoTime() - began;
                }));
            }
            long nanos = 0;
            for (int r = 0; r < n; r++) {
                long rankNanos = results.get(r).get();
                nanos = r == 0 ? rankNanos : nanos;
            }
            return nanos / 1e6 / rounds;
        } catch (Exception e) {
            throw new IllegalStateException("timing the all-reduce failed: " + e, e);
        } finally {
            threads.shutdownNow();
        }
    }
}
