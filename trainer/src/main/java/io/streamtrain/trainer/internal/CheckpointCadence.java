package io.streamtrain.trainer.internal;

import java.nio.file.Path;
import java.util.Optional;

/**
 * When a resident model writes its next checkpoint: after {@code checkpoint.every.steps} steps or
 * {@code checkpoint.every.seconds} since the last one, and never twice for nothing (a checkpoint asked for when
 * nothing changed is the last one). Not thread-safe: {@code ResidentModel} guards it.
 */
public final class CheckpointCadence {
    private final long everySteps;
    private final long everyNanos;
    private long lastStep;
    private long lastNanos = System.nanoTime();
    private Path last;
    private boolean changed;

    /**
     * @param everySteps   steps between checkpoints; 0 for none by steps
     * @param everySeconds seconds between checkpoints; 0 for none by time
     * @param step         the model's step now
     * @param restoredFrom the checkpoint the model was restored from, the last one until the next is written
     */
    public CheckpointCadence(long everySteps, long everySeconds, long step, Optional<Path> restoredFrom) {
        this.everySteps = everySteps;
        this.everyNanos = everySeconds * 1_000_000_000L;
        this.lastStep = step;
        this.last = restoredFrom.orElse(null);
    }

    /** Something a checkpoint carries changed. */
    public void changed() {
        changed = true;
    }

    /** Whether anything changed since the last checkpoint (or since start, when none exists). */
    public boolean changedSinceLast() {
        return changed;
    }

    /** Whether a checkpoint is due at {@code step} by the step or time cadence. */
    public boolean due(long step) {
        long steps = step - lastStep;
        return steps > 0 && ((everySteps > 0 && steps >= everySteps)
                || (everyNanos > 0 && System.nanoTime() - lastNanos >= everyNanos));
    }

    /** The last checkpoint when nothing changed since it was written: no need to write another. */
    public Optional<Path> unchanged() {
        return last != null && !changed ? Optional.of(last) : Optional.empty();
    }

    /** A checkpoint of {@code step} was written to {@code path}. */
    public Path written(Path path, long step) {
        last = path;
        lastStep = step;
        lastNanos = System.nanoTime();
        changed = false;
        return path;
    }

    /** The last checkpoint written or restored from. */
    public Optional<Path> last() {
        return Optional.ofNullable(last);
    }
}
