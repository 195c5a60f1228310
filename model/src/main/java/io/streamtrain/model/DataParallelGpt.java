package io.streamtrain.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * N replicas of one {@link Gpt} in this process, trained synchronously: each global step gives every replica its
 * own rows, each computes its gradients, a {@link GradientReducer} sums them and every replica applies the same
 * update, so the replicas stay equal and replica 0 speaks for all (checkpoints, generation).
 *
 * <p>Each replica runs on its own thread (its own {@link Kernels}: a GPU each, or a CPU backend each). With
 * {@link InProcessReducer}s the result is the same bits on every run; against one replica trained on all the rows
 * at once it differs only by the order of float sums (the test states the tolerance).
 */
public final class DataParallelGpt implements AutoCloseable {
    private static final AtomicInteger INSTANCES = new AtomicInteger();

    private final List<Gpt> replicas;
    private final List<? extends GradientReducer> reducers;
    private final ExecutorService threads;

    /**
     * Replicas with their reducers, rank by rank; the replicas must hold the same weights (initialized with one
     * seed or restored from one checkpoint). Takes ownership of the replicas: {@link #close} closes them.
     */
    public DataParallelGpt(List<Gpt> replicas, List<? extends GradientReducer> reducers) {
        Objects.requireNonNull(replicas, "replicas");
        Objects.requireNonNull(reducers, "reducers");
        if (replicas.isEmpty() || replicas.size() != reducers.size()) {
            throw new IllegalArgumentException("give one reducer per replica: " + replicas.size() + " replicas, "
                    + reducers.size() + " reducers");
        }
        for (int r = 0; r < reducers.size(); r++) {
            GradientReducer reducer = reducers.get(r);
            if (reducer.rank() != r || reducer.worldSize() != replicas.size()) {
                throw new IllegalArgumentException("reducer " + r + " is rank " + reducer.rank() + " of "
                        + reducer.worldSize() + "; replica " + r + " needs rank " + r + " of " + replicas.size());
            }
        }
        this.replicas = List.copyOf(replicas);
        this.reducers = List.copyOf(reducers);
        int instance = INSTANCES.incrementAndGet();
        AtomicInteger next = new AtomicInteger();
        this.threads = Executors.newFixedThreadPool(replicas.size(), task -> {
            Thread t = new Thread(task, "streamtrain-replica-" + instance + "-" + next.getAndIncrement());
            t.setDaemon(true);
            return t;
        });
    }

    /** {@code kernels.size()} CPU or GPU replicas initialized alike from {@code seed}, summed in process. */
    public static DataParallelGpt initialize(GptConfig config, List<? extends Kernels> kernels,
                                             TrainingOptions options, long seed) {
        return initialize(config, kernels, InProcessReducer.world(kernels.size()), options, seed);
    }

    /** Replicas initialized alike from {@code seed}, one per kernels, summed by {@code reducers} (rank by rank). */
    public static DataParallelGpt initialize(GptConfig config, List<? extends Kernels> kernels,
                                             List<? extends GradientReducer> reducers, TrainingOptions options,
                                             long seed) {
        List<Gpt> replicas = new ArrayList<>();
        for (Kernels k : kernels) {
            replicas.add(Gpt.initialize(config, k, options, seed));
        }
        return new DataParallelGpt(replicas, reducers);
    }

    /** {@code kernels.size()} replicas of a checkpoint, summed in process. */
    public static DataParallelGpt restore(Checkpoint checkpoint, List<? extends Kernels> kernels,
                                          TrainingOptions options) {
        return restore(checkpoint, kernels, InProcessReducer.world(kernels.size()), options);
    }

    /** Replicas of a checkpoint, one per kernels, summed by {@code reducers} (rank by rank). */
    public static DataParallelGpt restore(Checkpoint checkpoint, List<? extends Kernels> kernels,
                                          List<? extends GradientReducer> reducers, TrainingOptions options) {
        List<Gpt> replicas = new ArrayList<>();
        for (Kernels k : kernels) {
            replicas.add(Gpt.restore(checkpoint, k, options));
        }
        return new DataParallelGpt(replicas, reducers);
    }

    /**
     * Splits the rows of {@code tokens} (B, T+1) as evenly as possible over the replicas, in order (the first
     * B mod N replicas get one row more; with B < N the last get none) and trains them as one global step: the
     * same step as one model on the whole batch, up to the order of float sums.
     */
    public StepResult trainStep(int[] tokens, int B, int T) {
        return trainStep(CheckedTokens.check(replicas.get(0).config(), tokens, B, T));
    }

    /** As {@link #trainStep(int[], int, int)}, on ids already checked: they are not checked again. */
    public StepResult trainStep(CheckedTokens batch) {
        int n = replicas.size();
        if (n == 1) {
            return trainShares(new CheckedTokens[] {batch});
        }
        int B = batch.rows();
        CheckedTokens[] shares = new CheckedTokens[n];
        int[] rows = rowsOf(B, n);
        int first = 0;
        for (int r = 0; r < n; r++) {
            shares[r] = batch.rows(first, rows[r]);
            first += rows[r];
        }
        return trainShares(shares);
    }

    /** How {@link #trainStep(int[], int, int)} splits B rows over n replicas: B / n each, one more for the first B mod n. */
    public static int[] rowsOf(int B, int n) {
        int[] rows = new int[n];
        for (int r = 0; r < n; r++) {
            rows[r] = B / n + (r < B % n ? 1 : 0);
        }
        return rows;
    }

    /** Replica {@code r}'s host time in the all-reduces so far ({@link GradientReducer#reduceNanos}; -1: not measured). */
    public long reduceNanos(int r) {
        return reducers.get(r).reduceNanos();
    }

    /** Replicas in this world. */
    public int replicas() {
        return replicas.size();
    }

    /** Replica {@code r}; replica 0 speaks for the model. */
    public Gpt replica(int r) {
        return replicas.get(r);
    }

    /**
     * One global step: replica r trains rows[r] rows of {@code tokens[r]} (rows[r], T+1); a replica with 0 rows
     * contributes nothing (an empty array). The loss is the mean over all the rows; the result is replica 0's,
     * which every replica shares.
     *
     * @throws IllegalArgumentException when no replica has rows or the arrays do not give one entry per replica
     */
    public StepResult trainStep(int[][] tokens, int[] rows, int T) {
        int n = replicas.size();
        if (tokens.length != n || rows.length != n) {
            throw new IllegalArgumentException("give tokens and rows for each of the " + n + " replicas, got "
                    + tokens.length + " and " + rows.length);
        }
        int globalRows = 0;
        for (int r : rows) {
            if (r < 0) {
                throw new IllegalArgumentException("rows must be >= 0, got " + r);
            }
            globalRows += r;
        }
        // each replica checks its own share, in its own thread: a bad one fails that replica, which stops the others
        return step(globalRows, (r, total) -> replicas.get(r).trainStep(tokens[r], rows[r], T, total,
                reducers.get(r)));
    }

    /** One global step over the replicas' checked shares. */
    private StepResult trainShares(CheckedTokens[] shares) {
        int globalRows = 0;
        for (CheckedTokens share : shares) {
            globalRows += share.rows();
        }
        return step(globalRows, (r, total) -> replicas.get(r).trainStep(shares[r], total, reducers.get(r)));
    }

    /** Replica r's part of a global step of {@code globalRows} rows. */
    private interface ReplicaStep {
        StepResult take(int replica, int globalRows);
    }

    /** Every replica's part of one global step, in parallel; a replica that fails stops the others. */
    private StepResult step(int globalRows, ReplicaStep replicaStep) {
        int n = replicas.size();
        if (globalRows == 0) {
            throw new IllegalArgumentException("a global step needs rows: every replica was given 0");
        }
        if (n == 1) {
            return replicaStep.take(0, globalRows);
        }
        int total = globalRows;
        List<Future<StepResult>> results = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            int rank = r;
            results.add(threads.submit(() -> {
                try {
                    return replicaStep.take(rank, total);
                } catch (RuntimeException | Error e) {
                    abort();
                    throw e;
                }
            }));
        }
        StepResult first = null;
        RuntimeException failure = null;
        boolean failureStopped = false;
        for (int r = 0; r < n; r++) {
            try {
                StepResult result = results.get(r).get();
                if (r == 0) {
                    first = result;
                }
            } catch (ExecutionException e) {
                // the first replica that failed on its own, before those stopped by the abort
                boolean stopped = e.getCause().getMessage() != null
                        && e.getCause().getMessage().contains(InProcessReducer.STOPPED);
                if (failure == null || !stopped && failureStopped) {
                    failure = e.getCause() instanceof RuntimeException re ? re
                            : new IllegalStateException("replica " + r + " failed: " + e.getCause(), e.getCause());
                    failureStopped = stopped;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                abort();
                throw new IllegalStateException("interrupted while the replicas trained", e);
            }
        }
        if (failure != null) {
            throw failure;
        }
        return first;
    }

    private void abort() {
        for (GradientReducer reducer : reducers) {
            if (reducer instanceof InProcessReducer inProcess) {
                inProcess.abort();
            }
        }
    }

    /** Optimizer steps applied so far (every replica's). */
    public long step() {
        return replicas.get(0).step();
    }

    /** Replica 0's checkpoint: the replicas are equal. */
    public Checkpoint checkpoint(TokenizerIdentity tokenizer, Map<String, String> metadata) {
        return replicas.get(0).checkpoint(tokenizer, metadata);
    }

    /** Closes the reducers that hold resources (NCCL communicators), then the replicas and their kernels. */
    @Override
    public void close() {
        threads.shutdownNow();
        RuntimeException failure = null;
        for (GradientReducer reducer : reducers) {
            if (reducer instanceof AutoCloseable closeable) {
                try {
                    closeable.close();
                } catch (Exception e) {
                    failure = failure == null ? new IllegalStateException("closing a reducer failed: " + e, e) : failure;
                }
            }
        }
        for (Gpt replica : replicas) {
            replica.close();
        }
        if (failure != null) {
            throw failure;
        }
    }
}
