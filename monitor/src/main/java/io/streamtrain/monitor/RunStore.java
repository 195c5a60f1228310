package io.streamtrain.monitor;

import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;

/**
 * What the monitor knows: per run, the last value of every (run id, step) for metrics and of every (run id, step, prompt)
 * for samples, so that records replayed or re-emitted by a restarted trainer replace, never duplicate; the dead-letter
 * count; the trainer's consumer lag. Thread-safe (one lock); memory bounded per run ({@link MonitorConfig#MAX_STEPS_PER_RUN},
 * oldest steps dropped first) and in runs ({@link MonitorConfig#MAX_RUNS}, the run updated longest ago dropped first).
 *
 * <p>Every change takes the next {@link #version()}; {@link #changesSince(long)} returns what changed after a version,
 * which is how the dashboard pushes only new points, and {@link #awaitChange(long, long)} waits for the next change.
 */
public final class RunStore {
    /** A value and the store version at which it was last changed. */
    public record Stamped<T>(long version, T value) {}

    /** One record of the dead-letter topic: where it sits and why the trainer refused it (from the error headers). */
    public record DeadLetter(Instant time, int partition, long offset, String sourceTopic, String reason) {}

    /**
     * Lag of the trainer's consumer group: end offset minus committed offset, summed per input topic.
     * {@code problem} says why it could not be measured (then the sums are empty).
     */
    public record ConsumerLag(String groupId, Instant measuredAt, long totalLag, Map<String, Long> lagByTopic, String problem) {
        public static ConsumerLag unavailable(String groupId, Instant measuredAt, String problem) {
            return new ConsumerLag(groupId, measuredAt, -1, Map.of(), problem);
        }

        public boolean measured() {
            return problem == null;
        }
    }

    /** What changed after a version: per run (in first-seen order) the changed metrics by step and samples. */
    public record Changes(String epoch, long version, boolean complete, List<String> runIds,
                          List<Stamped<TrainingMetrics>> metrics, List<Stamped<TextSample>> samples,
                          long deadLetterCount, List<DeadLetter> recentDeadLetters, long undecodableCount,
                          Optional<ConsumerLag> consumerLag) {}

    private static final int RECENT_DEAD_LETTERS = 20;
    private static final Comparator<TextSample> SAMPLE_ORDER =
        Comparator.comparingLong(TextSample::getStep).thenComparing(TextSample::getPrompt);

    /** One run's series: metrics by step, samples by (step, prompt). */
    private static final class Run {
        final TreeMap<Long, Stamped<TrainingMetrics>> metricsByStep = new TreeMap<>();
        final TreeMap<TextSample, Stamped<TextSample>> samples = new TreeMap<>(SAMPLE_ORDER);
        long lastChangedVersion;
    }

    private final String epoch = UUID.randomUUID().toString().substring(0, 8);
    private final String runFilter;
    private final int maxStepsPerRun;
    private final int maxSamplesPerRun;
    private final int maxRuns;
    private final LinkedHashMap<String, Run> runs = new LinkedHashMap<>();
    private final Deque<DeadLetter> recentDeadLetters = new ArrayDeque<>();
    private long version;
    private long deadLetterCount;
    private long undecodableCount;
    private ConsumerLag consumerLag;

    /** A store with the defaults of {@link MonitorConfig} and every run. */
    public RunStore() {
        this(null, 50_000, 200, 64);
    }

    /**
     * @param runFilter the one run id to keep, or null for every run
     */
    public RunStore(String runFilter, int maxStepsPerRun, int maxSamplesPerRun, int maxRuns) {
        if (maxStepsPerRun < 1 || maxSamplesPerRun < 1 || maxRuns < 1) {
            throw new IllegalArgumentException("RunStore bounds must be >= 1, got maxStepsPerRun=" + maxStepsPerRun
                + " maxSamplesPerRun=" + maxSamplesPerRun + " maxRuns=" + maxRuns);
        }
        this.runFilter = runFilter;
        this.maxStepsPerRun = maxStepsPerRun;
        this.maxSamplesPerRun = maxSamplesPerRun;
        this.maxRuns = maxRuns;
    }

    /** A store bounded as the config says, keeping only its run id when one is set. */
    public static RunStore of(MonitorConfig config) {
        return new RunStore(config.runId().orElse(null), config.maxStepsPerRun(), config.maxSamplesPerRun(), config.maxRuns());
    }

    /**
     * Keeps the metrics of a step, replacing an earlier value of the same (run id, step).
     * @return true when the store changed (a new step or a different value); false for an identical replay or a filtered run
     */
    public synchronized boolean putMetrics(TrainingMetrics metrics) {
        Run run = runFor(metrics.getRunId());
        if (run == null) {
            return false;
        }
        Stamped<TrainingMetrics> old = run.metricsByStep.get(metrics.getStep());
        if (old != null && old.value().equals(metrics)) {
            return false;
        }
        run.metricsByStep.put(metrics.getStep(), new Stamped<>(changed(run), metrics));
        while (run.metricsByStep.size() > maxStepsPerRun) {
            run.metricsByStep.pollFirstEntry();
        }
        return true;
    }

    /**
     * Keeps a text sample, replacing an earlier one of the same (run id, step, prompt).
     * @return true when the store changed
     */
    public synchronized boolean putSample(TextSample sample) {
        Run run = runFor(sample.getRunId());
        if (run == null) {
            return false;
        }
        Stamped<TextSample> old = run.samples.get(sample);
        if (old != null && old.value().equals(sample)) {
            return false;
        }
        run.samples.remove(sample);
        run.samples.put(sample, new Stamped<>(changed(run), sample));
        while (run.samples.size() > maxSamplesPerRun) {
            run.samples.pollFirstEntry();
        }
        return true;
    }

    /** Counts a record of the dead-letter topic (each offset is read once, so each is counted once). */
    public synchronized void addDeadLetter(DeadLetter deadLetter) {
        deadLetterCount++;
        recentDeadLetters.addLast(deadLetter);
        while (recentDeadLetters.size() > RECENT_DEAD_LETTERS) {
            recentDeadLetters.removeFirst();
        }
        changed(null);
    }

    /** Counts a metrics or samples record that could not be decoded (the follower logs where it is). */
    public synchronized void addUndecodable() {
        undecodableCount++;
        changed(null);
    }

    /** Replaces the consumer lag; a lag equal to the last one (but for its time) changes nothing. */
    public synchronized void setConsumerLag(ConsumerLag lag) {
        boolean same = consumerLag != null && consumerLag.totalLag() == lag.totalLag()
            && consumerLag.lagByTopic().equals(lag.lagByTopic()) && java.util.Objects.equals(consumerLag.problem(), lag.problem());
        consumerLag = lag;
        if (!same) {
            changed(null);
        }
    }

    /** The version of the last change; 0 for an empty store. */
    public synchronized long version() {
        return version;
    }

    /** Identifies this store, so that a client that saw another store's versions starts over. */
    public String epoch() {
        return epoch;
    }

    /**
     * Waits until the version exceeds {@code sinceVersion} or the timeout passes.
     * @return true when there is a change to read
     */
    public synchronized boolean awaitChange(long sinceVersion, long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (version <= sinceVersion) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }

    /** Run ids in the order they were first seen. */
    public synchronized List<String> runIds() {
        return List.copyOf(runs.keySet());
    }

    /** The metrics of a run by step (empty for an unknown run). */
    public synchronized List<TrainingMetrics> metrics(String runId) {
        Run run = runs.get(runId);
        return run == null ? List.of() : values(run.metricsByStep.values());
    }

    /** The samples of a run by step, then prompt (empty for an unknown run). */
    public synchronized List<TextSample> samples(String runId) {
        Run run = runs.get(runId);
        return run == null ? List.of() : values(run.samples.values());
    }

    /** Metrics of every run, run by run in first-seen order, each by step. */
    public synchronized List<TrainingMetrics> allMetrics() {
        List<TrainingMetrics> all = new ArrayList<>();
        runs.values().forEach(run -> all.addAll(values(run.metricsByStep.values())));
        return all;
    }

    /** Samples of every run, run by run in first-seen order, each by step. */
    public synchronized List<TextSample> allSamples() {
        List<TextSample> all = new ArrayList<>();
        runs.values().forEach(run -> all.addAll(values(run.samples.values())));
        return all;
    }

    /** The highest step of any run, 0 when there is none. */
    public synchronized long latestStep() {
        return runs.values().stream().filter(run -> !run.metricsByStep.isEmpty())
            .mapToLong(run -> run.metricsByStep.lastKey()).max().orElse(0);
    }

    public synchronized long deadLetterCount() {
        return deadLetterCount;
    }

    public synchronized long undecodableCount() {
        return undecodableCount;
    }

    public synchronized Optional<ConsumerLag> consumerLag() {
        return Optional.ofNullable(consumerLag);
    }

    /**
     * What changed after {@code sinceVersion}: metrics and samples stamped later, and the current counters.
     * {@code changesSince(0)} is everything ({@link Changes#complete()} true).
     */
    public synchronized Changes changesSince(long sinceVersion) {
        List<Stamped<TrainingMetrics>> metrics = new ArrayList<>();
        List<Stamped<TextSample>> samples = new ArrayList<>();
        for (Run run : runs.values()) {
            if (run.lastChangedVersion <= sinceVersion) {
                continue;
            }
            run.metricsByStep.values().stream().filter(stamped -> stamped.version() > sinceVersion).forEach(metrics::add);
            run.samples.values().stream().filter(stamped -> stamped.version() > sinceVersion).forEach(samples::add);
        }
        return new Changes(epoch, version, sinceVersion <= 0, List.copyOf(runs.keySet()), metrics, samples,
            deadLetterCount, List.copyOf(recentDeadLetters), undecodableCount, Optional.ofNullable(consumerLag));
    }

    private Run runFor(String runId) {
        if (runFilter != null && !runFilter.equals(runId)) {
            return null;
        }
        Run run = runs.get(runId);
        if (run == null) {
            if (runs.size() >= maxRuns) {
                String stalest = runs.entrySet().stream()
                    .min(Comparator.comparingLong(entry -> entry.getValue().lastChangedVersion)).orElseThrow().getKey();
                runs.remove(stalest);
            }
            run = new Run();
            runs.put(runId, run);
        }
        return run;
    }

    /** Takes the next version for a change (of a run, when given) and wakes the waiters. */
    private long changed(Run run) {
        version++;
        if (run != null) {
            run.lastChangedVersion = version;
        }
        notifyAll();
        return version;
    }

    private static <T> List<T> values(Collection<Stamped<T>> stamped) {
        List<T> values = new ArrayList<>(stamped.size());
        stamped.forEach(s -> values.add(s.value()));
        return values;
    }
}
