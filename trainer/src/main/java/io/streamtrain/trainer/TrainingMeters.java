package io.streamtrain.trainer;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.streamtrain.trainer.internal.SpikeWatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;

/**
 * The trainer's figures as Micrometer meters. The values live here, updated by the training step whether or not a
 * registry is bound; {@link #bindTo} exposes them (to any number of registries) as gauges of the last step (loss,
 * accuracy, learning rate, gradient norm, tokens/s), counters (steps, tokens, dead letters by reason, skipped
 * replays, spikes by kind), a timer of the step time and a gauge of the backend's allocated memory; and for data
 * parallelism the ranks of the world, the rows of the last global batch and, per rank of this process, its throughput
 * and its gradient all-reduce time.
 */
public final class TrainingMeters implements MeterBinder {
    private final LongSupplier allocatedBytes;
    private volatile double loss = Double.NaN;
    private volatile double accuracy = Double.NaN;
    private volatile double learningRate = Double.NaN;
    private volatile double gradientNorm = Double.NaN;
    private volatile double tokensPerSecond = Double.NaN;
    private volatile int replicas = 1;
    private volatile int globalRows;
    private int firstRank;
    private double[] rankTokensPerSecond = {Double.NaN};
    private final AtomicLongArray rankReduceNanos = new AtomicLongArray(1024);
    private final AtomicLongArray rankReduces = new AtomicLongArray(1024);
    private long[] lastReduceNanos = new long[1];
    private volatile Double lastAllReduceMillis; // the first local rank's, of the last step; null: not measured
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong tokens = new AtomicLong();
    private final AtomicLong stepNanos = new AtomicLong();
    private final AtomicLong skippedReplays = new AtomicLong();
    private final AtomicLongArray deadLetters = new AtomicLongArray(DeadLetterReason.values().length);
    private final AtomicLong lossSpikes = new AtomicLong();
    private final AtomicLong gradientNormSpikes = new AtomicLong();

    /** @param allocatedBytes bytes the model's backend holds (Kernels.allocatedBytes) */
    public TrainingMeters(LongSupplier allocatedBytes) {
        this.allocatedBytes = allocatedBytes;
    }

    /** Records one applied training step. */
    public void recordStep(double loss, double accuracy, double learningRate, double gradientNorm, long stepTokens,
                           double tokensPerSecond, long stepTimeNanos) {
        this.loss = loss;
        this.accuracy = accuracy;
        this.learningRate = learningRate;
        this.gradientNorm = gradientNorm;
        this.tokensPerSecond = tokensPerSecond;
        tokens.addAndGet(stepTokens);
        stepNanos.addAndGet(stepTimeNanos);
        steps.incrementAndGet();
    }

    /** Model replicas the steps run on (data-parallel), for the gauge. */
    public void replicas(int replicas) {
        this.replicas = replicas;
    }

    public int replicas() { return replicas; }

    /**
     * The ranks of this process in the world of {@link #replicas} ranks: {@code first} to {@code first + local - 1}
     * (one process's replicas: 0 to N-1; rank R of a world of processes: R alone). Call before {@link #bindTo}.
     */
    public synchronized void localRanks(int first, int local) {
        if (local < 1 || local > rankReduceNanos.length()) {
            throw new IllegalArgumentException("a process holds 1 to " + rankReduceNanos.length() + " ranks, got " + local);
        }
        this.firstRank = first;
        this.rankTokensPerSecond = new double[local];
        java.util.Arrays.fill(rankTokensPerSecond, Double.NaN);
        this.lastReduceNanos = new long[local];
    }

    /**
     * Records the data-parallel side of a global step: its rows over every rank, and per local rank its tokens and
     * its all-reduce time so far ({@code reduceNanos[i]}, host nanoseconds since the start; -1 when not measured), for
     * a step of {@code stepNanos} on this process. A rank's throughput is its tokens over the step time less its
     * all-reduce time of the step (the time it computed, not the time it waited for the others).
     */
    public synchronized void recordRanks(int globalRows, long[] tokens, long[] reduceNanos, long stepNanos) {
        this.globalRows = globalRows;
        lastAllReduceMillis = null;
        for (int i = 0; i < rankTokensPerSecond.length && i < tokens.length; i++) {
            long reduced = 0;
            if (reduceNanos[i] >= 0) {
                reduced = Math.max(0, reduceNanos[i] - lastReduceNanos[i]);
                lastReduceNanos[i] = reduceNanos[i];
                rankReduceNanos.set(i, reduceNanos[i]);
                rankReduces.incrementAndGet(i);
                if (i == 0) {
                    lastAllReduceMillis = reduced / 1e6;
                }
            }
            long computing = Math.max(1, stepNanos - reduced);
            rankTokensPerSecond[i] = tokens[i] / (computing / 1e9);
        }
    }

    /** Rank {@code first + i}'s tokens per second of computing in the last step; NaN before the first. */
    public synchronized double rankTokensPerSecond(int i) { return rankTokensPerSecond[i]; }

    /**
     * The all-reduce time of the first local rank in the last step recorded by {@link #recordRanks}, in milliseconds;
     * null when not measured (one model, or NCCL's sum on the GPU stream).
     */
    public Double lastAllReduceMillis() { return lastAllReduceMillis; }

    /** Rows of the last global step over every rank. */
    public int globalRows() { return globalRows; }

    /** Records a step reported as a spike of {@code kind}: {@code loss} or {@code gradient-norm}. */
    public void recordSpike(String kind) {
        (SpikeWatch.LOSS.equals(kind) ? lossSpikes : gradientNormSpikes).incrementAndGet();
    }

    /** Steps reported as spikes of {@code kind} ({@code loss} or {@code gradient-norm}). */
    public long spikes(String kind) {
        return (SpikeWatch.LOSS.equals(kind) ? lossSpikes : gradientNormSpikes).get();
    }

    public void recordDeadLetter(DeadLetterReason reason) {
        deadLetters.incrementAndGet(reason.ordinal());
    }

    /** Records a record skipped because its offset was already applied (at or below the checkpointed offset). */
    public void recordSkippedReplay() {
        skippedReplays.incrementAndGet();
    }

    public long steps() { return steps.get(); }
    public long tokens() { return tokens.get(); }
    public long skippedReplays() { return skippedReplays.get(); }
    public long deadLetters(DeadLetterReason reason) { return deadLetters.get(reason.ordinal()); }

    /** Dead letters of every reason together. */
    public long deadLetters() {
        long total = 0;
        for (DeadLetterReason reason : DeadLetterReason.values()) {
            total += deadLetters(reason);
        }
        return total;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        Gauge.builder("streamtrain.training.replicas", this, m -> m.replicas)
                .description("Data-parallel ranks of the world (replicas of one process, or processes of a world);"
                        + " 1 = one model").register(registry);
        Gauge.builder("streamtrain.training.global.batch.rows", this, TrainingMeters::globalRows)
                .description("Rows of the last global step over every rank").register(registry);
        int local;
        int first;
        synchronized (this) {
            local = rankTokensPerSecond.length;
            first = firstRank;
        }
        for (int i = 0; i < local; i++) {
            int index = i;
            String rank = Integer.toString(first + i);
            Gauge.builder("streamtrain.training.rank.tokens.per.second", this, m -> m.rankTokensPerSecond(index))
                    .description("This rank's tokens of the last step over its computing time (the step less its"
                            + " all-reduce)").tag("rank", rank).register(registry);
            FunctionTimer.builder("streamtrain.training.allreduce.time", this, m -> m.rankReduces.get(index),
                            m -> m.rankReduceNanos.get(index), TimeUnit.NANOSECONDS)
                    .description("The gradient all-reduces of this rank (one per step) and their host time, the wait"
                            + " for the other ranks included; none counted where it runs on the GPU stream (NCCL)")
                    .tag("rank", rank).register(registry);
        }
        Gauge.builder("streamtrain.training.loss", this, m -> m.loss)
                .description("Mean cross-entropy of the last step, in nats").register(registry);
        Gauge.builder("streamtrain.training.accuracy", this, m -> m.accuracy)
                .description("Fraction of positions of the last step whose argmax was the target").register(registry);
        Gauge.builder("streamtrain.training.learning.rate", this, m -> m.learningRate)
                .description("Learning rate of the last step").register(registry);
        Gauge.builder("streamtrain.training.gradient.norm", this, m -> m.gradientNorm)
                .description("Global gradient norm of the last step, before clipping").register(registry);
        Gauge.builder("streamtrain.training.tokens.per.second", this, m -> m.tokensPerSecond)
                .description("Tokens of the last step over its whole time (wait, compute, emit)").register(registry);
        Gauge.builder("streamtrain.device.memory.allocated", this, m -> m.allocatedBytes.getAsLong())
                .description("Bytes the model's backend has allocated").baseUnit(BaseUnits.BYTES).register(registry);
        FunctionCounter.builder("streamtrain.training.steps", steps, AtomicLong::get)
                .description("Optimizer steps applied").register(registry);
        FunctionCounter.builder("streamtrain.training.tokens", tokens, AtomicLong::get)
                .description("Tokens trained").register(registry);
        FunctionCounter.builder("streamtrain.skipped.replays", skippedReplays, AtomicLong::get)
                .description("Records skipped because their offset was already applied (replay after a restart)")
                .register(registry);
        for (DeadLetterReason reason : DeadLetterReason.values()) {
            FunctionCounter.builder("streamtrain.dead.letters", this, m -> m.deadLetters(reason))
                    .description("Records sent to the dead-letter topic").tag("reason", reason.code())
                    .register(registry);
        }
        for (String kind : new String[] {SpikeWatch.LOSS, SpikeWatch.GRADIENT_NORM}) {
            FunctionCounter.builder("streamtrain.training.spikes", this, m -> m.spikes(kind))
                    .description("Steps whose loss or gradient norm was far above the recent average (trained all the"
                            + " same; spike.warning.* ratios)").tag("kind", kind).register(registry);
        }
        FunctionTimer.builder("streamtrain.training.step.time", this, m -> m.steps.get(), m -> m.stepNanos.get(),
                        TimeUnit.NANOSECONDS)
                .description("Time of a training step: wait, compute and emit").register(registry);
    }
}
