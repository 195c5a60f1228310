package io.streamtrain.trainer.world.internal;

import java.io.PrintStream;

/**
 * The console line of a rank other than 0, every {@code summary.every.steps} global steps (rank 0 prints the world's
 * summary line): how many of those steps its own partitions fed, so that a rank starved of data (it gives zero rows
 * after {@code world.wait.ms}) shows on its own console, e.g.
 * {@code rank 1 | step     20 | its partitions gave 7 batches in the last 10 steps, 17 since it started}.
 */
public final class RankFeeding {
    private final int rank;
    private final int everySteps;
    private final PrintStream log;
    private long steps;       // since the last line
    private long batches;     // since the last line
    private long batchesHere; // since this rank started

    /** @param everySteps a line every N global steps; 0 = never */
    public RankFeeding(int rank, int everySteps, PrintStream log) {
        this.rank = rank;
        this.everySteps = everySteps;
        this.log = log;
    }

    /** Counts the global step {@code step} just taken, with a batch of this rank's or without; prints when due. */
    public void stepTaken(long step, boolean hadBatch) {
        steps++;
        if (hadBatch) {
            batches++;
            batchesHere++;
        }
        if (everySteps > 0 && step % everySteps == 0) {
            log.println(line(rank, step, batches, steps, batchesHere));
            steps = 0;
            batches = 0;
        }
    }

    /** {@code rank 1 | step     20 | its partitions gave 7 batches in the last 10 steps, 17 since it started}. */
    static String line(int rank, long step, long batches, long steps, long batchesHere) {
        return String.format("rank %d | step %6d | its partitions gave %d batch%s in the last %d step%s, %d since it"
                + " started", rank, step, batches, batches == 1 ? "" : "es", steps, steps == 1 ? "" : "s",
                batchesHere);
    }
}
