package io.streamtrain.schemas;

/** Topic names and their defaults, in one place. */
public final class Topics {
    /** TokenBatch records, keyed by dataset name so that one dataset keeps its order. */
    public static final String TOKEN_BATCHES = "streamtrain.token-batches";
    /**
     * TokenBatch records held out for evaluation (the producer's holdout, or an explicit evaluation corpus); the
     * trainer evaluates on them and never trains on them.
     */
    public static final String EVAL_BATCHES = "streamtrain.eval-batches";
    /** TrainingMetrics records, keyed by {@link #runStepKey(String, long)}. */
    public static final String METRICS = "streamtrain.metrics";
    /** TextSample records, keyed by {@link #runStepKey(String, long)}. */
    public static final String SAMPLES = "streamtrain.samples";
    /** Records the trainer could not use: original bytes with topic, partition, offset and reason in headers. */
    public static final String DEAD_LETTERS = "streamtrain.dead-letters";

    /**
     * ModelAnnouncement records, compacted: keyed by {@link #modelKey} so that the topic keeps the newest checkpoint
     * and the best model of every run.
     */
    public static final String MODELS = "streamtrain.models";

    private Topics() {}

    /**
     * Key of a ModelAnnouncement: the run id for a written checkpoint, {@code "<runId>/best"} for a new best, so that
     * compaction keeps the newest of each.
     */
    public static String modelKey(String runId, boolean best) {
        if (runId == null || runId.isEmpty()) {
            throw new IllegalArgumentException("runId must be a non-empty string, got " + (runId == null ? "null" : "\"\""));
        }
        return best ? runId + "/best" : runId;
    }

    /**
     * Key of metrics and samples records: {@code "<runId>/<step, 12 digits zero-padded>"}, so that keys of one run
     * sort by step as strings.
     */
    public static String runStepKey(String runId, long step) {
        if (runId == null || runId.isEmpty()) {
            throw new IllegalArgumentException("runId must be a non-empty string, got " + (runId == null ? "null" : "\"\""));
        }
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step + " (run " + runId + ")");
        }
        return String.format("%s/%012d", runId, step);
    }
}
