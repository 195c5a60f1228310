package io.streamtrain.trainer;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongSupplier;

/**
 * The trainer's figures as Micrometer meters. The values live here, updated by the training step whether or not a
 * registry is bound; {@link #bindTo} exposes them (to any number of registries) as gauges of the last step (loss,
 * accuracy, learning rate, gradient norm, tokens/s), counters (steps, tokens, dead letters by reason, skipped
 * replays), a timer of the step time and a gauge of the backend's allocated memory.
 */
public final class TrainingMeters implements MeterBinder {
    private final LongSupplier allocatedBytes;
    private volatile double loss = Double.NaN;
    private volatile double accuracy = Double.NaN;
    private volatile double learningRate = Double.NaN;
    private volatile double gradientNorm = Double.NaN;
    private volatile double tokensPerSecond = Double.NaN;
    private volatile int replicas = 1;
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong tokens = new AtomicLong();
    private final AtomicLong stepNanos = new AtomicLong();
    private final AtomicLong skippedReplays = new AtomicLong();
    private final AtomicLongArray deadLetters = new AtomicLongArray(DeadLetterReason.values().length);

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
                .description("Model replicas each step's batch is split among (data-parallel); 1 = one model")
                .register(registry);
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
        FunctionTimer.builder("streamtrain.training.step.time", this, m -> m.steps.get(), m -> m.stepNanos.get(),
                        TimeUnit.NANOSECONDS)
                .description("Time of a training step: wait, compute and emit").register(registry);
    }
}
