package io.streamtrain.cli.bench;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.Definitions;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.cli.options.SharedFlags;
import io.streamtrain.cli.support.Json;
import io.streamtrain.cli.support.MachineInfo;
import io.streamtrain.cli.support.WriterOutputStream;
import io.streamtrain.model.DataParallelGpt;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.trainer.Backends;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParameterException;

import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code streamtrain bench}: times training steps of a GPT on random token batches, with no Kafka involved.
 * Prints a header (command, commit, machine, Java) and, as its last line, one JSON object with the figures.
 *
 * <p>The batches are drawn once, before timing, from a seeded RNG; the timed loop only calls
 * {@link Gpt#trainStep}, so {@code alloc_bytes_per_step} (heap bytes the calling thread allocated, from
 * {@link com.sun.management.ThreadMXBean#getCurrentThreadAllocatedBytes()}) is the model's own allocation.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Benchmark GPT training steps on random token batches (no Kafka).",
                "",
                "Prints the command, commit, machine and Java version as # lines, then one JSON line with backend, model, "
                        + "batch, seq_len, vocab, params, tokens_per_s, ms_per_step, alloc_bytes_per_step, "
                        + "host_syncs_per_step, loss_first, loss_last, device, commit, replicas and allreduce_ms.",
                "With --replicas N, --batch is the rows of each replica (the global batch is N times it), tokens_per_s "
                        + "counts every replica's tokens, and allreduce_ms is one all-reduce of the gradients (timed "
                        + "after the steps, waiting for it each time; 0 without --replicas).",
                "",
                "Example: streamtrain bench --backend cpu --model tiny --vocab 8192 --batch 16 --seq-len 256 --steps 20"})
public final class BenchCommand extends ConfiguredCommand {
    /** Distinct random batches cycled through by warm-up and timed steps. */
    private static final int DISTINCT_BATCHES = 8;

    public BenchCommand() {
        super(SETTINGS);
    }

    static final String VOCABULARY_SIZE = "vocab.size";
    static final String STEPS = "steps";
    static final String WARMUP_STEPS = "warmup.steps";

    static final ConfigDef DEFINITION = Definitions.merge(
            Definitions.keys(TrainerConfig.CONFIG, TrainerConfig.MODEL, TrainerConfig.BACKEND, TrainerConfig.CPU_THREADS,
                    TrainerConfig.SEQUENCE_LENGTH, TrainerConfig.DROPOUT),
            Definitions.of(Definitions.withDoc(TrainerConfig.CONFIG, TrainerConfig.SEED, "Seed of the weights and the batches.")),
            new ConfigDef()
                    .define(VOCABULARY_SIZE, Type.INT, 8192, Range.atLeast(1), Importance.HIGH, "Vocabulary size V.")
                    .define(TrainerConfig.BATCH_ROWS, Type.INT, 16, Range.atLeast(1), Importance.HIGH, "Rows B per step.")
                    .define(STEPS, Type.INT, 10, Range.atLeast(1), Importance.HIGH, "Timed steps.")
                    .define(WARMUP_STEPS, Type.INT, 3, Range.atLeast(0), Importance.MEDIUM,
                            "Untimed steps first: JIT, first-call allocations, and the CUDA step's graph captures "
                                    + "(its kernels settle at the third step).")
                    .define(TrainerConfig.REPLICAS, Type.INT, null, Definitions.nullOr(Range.between(1, 64)),
                            Importance.MEDIUM, "Train N model replicas data-parallel in this process: GPUs 0..N-1 "
                                    + "(gradients all-reduced by NCCL, found as README says) or, with backend cpu, N CPU "
                                    + "workers sharing cpu.threads (gradients summed in a fixed order); unset = one model."));

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .with(SharedFlags::backend)
            .flag("--replicas", TrainerConfig.REPLICAS, "N")
            .flag("--model", TrainerConfig.MODEL, "tiny|small|gpt2")
            .flag("--vocab", VOCABULARY_SIZE, "V")
            .flag("--batch", TrainerConfig.BATCH_ROWS, "B")
            .flag("--seq-len", TrainerConfig.SEQUENCE_LENGTH, "T")
            .flag("--steps", STEPS, "N")
            .flag("--warmup", WARMUP_STEPS, "W")
            .flag("--seed", TrainerConfig.SEED, "SEED")
            .flag("--dropout", TrainerConfig.DROPOUT, "P");

    private String backend;
    private int cpuThreads;
    private Integer replicas;
    private String model;
    private int vocabularySize;
    private int batchRows;
    private int steps;
    private int warmupSteps;
    private long seed;
    private double dropout;

    /** The figures of one benchmark run, as printed on the JSON line. */
    public record Result(String backend, String model, int batch, int sequenceLength, int vocabularySize, long parameters,
                         int steps, double tokensPerSecond, double millisecondsPerStep, double allocatedBytesPerStep,
                         double hostSyncsPerStep, double lossFirst, double lossLast, String device, String commit,
                         int replicas, double allReduceMilliseconds, double dropout) {

        /** One JSON object on one line; numbers in plain decimal notation. */
        public String toJson() {
            return String.format(Locale.ROOT, "{\"backend\":%s,\"model\":%s,\"batch\":%d,\"seq_len\":%d,\"vocab\":%d,"
                            + "\"params\":%d,\"steps\":%d,\"tokens_per_s\":%.1f,\"ms_per_step\":%.3f,"
                            + "\"alloc_bytes_per_step\":%.1f,\"host_syncs_per_step\":%.2f,\"loss_first\":%.6f,"
                            + "\"loss_last\":%.6f,\"device\":%s,\"commit\":%s,\"replicas\":%d,\"allreduce_ms\":%.3f,"
                            + "\"dropout\":%.3f}",
                    Json.quote(backend), Json.quote(model), batch, sequenceLength, vocabularySize, parameters, steps,
                    tokensPerSecond, millisecondsPerStep, allocatedBytesPerStep, hostSyncsPerStep, lossFirst, lossLast,
                    Json.quote(device), Json.quote(commit), replicas, allReduceMilliseconds, dropout);
        }
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        SharedFlags.derivePipelineShape(settings); // T: the preset's context length unless set; checked against it
        backend = (String) settings.value(TrainerConfig.BACKEND);
        cpuThreads = (Integer) settings.value(TrainerConfig.CPU_THREADS);
        replicas = (Integer) settings.value(TrainerConfig.REPLICAS);
        model = (String) settings.value(TrainerConfig.MODEL);
        vocabularySize = (Integer) settings.value(VOCABULARY_SIZE);
        batchRows = (Integer) settings.value(TrainerConfig.BATCH_ROWS);
        steps = (Integer) settings.value(STEPS);
        warmupSteps = (Integer) settings.value(WARMUP_STEPS);
        seed = (Long) settings.value(TrainerConfig.SEED);
        dropout = (Double) settings.value(TrainerConfig.DROPOUT);
        int T = (Integer) settings.value(TrainerConfig.SEQUENCE_LENGTH);
        PrintWriter out = spec.commandLine().getOut();
        GptConfig config = config();
        String commit = MachineInfo.commit();
        out.println("# streamtrain " + String.join(" ", spec.commandLine().getParseResult().originalArgs()));
        out.println("# commit:  " + commit);
        out.println("# cpu:     " + MachineInfo.cpu() + "; " + MachineInfo.memory());
        out.println("# os:      " + MachineInfo.os());
        out.println("# java:    " + MachineInfo.javaVersion());
        out.flush();
        if (replicas != null) {
            Result result = runReplicas(config, T, commit, out);
            out.println(result.toJson());
            out.flush();
            return 0;
        }
        Kernels kernels = Backends.open(backend, cpuThreads, WriterOutputStream.printStream(out, "# "));
        Gpt gpt;
        try {
            gpt = Gpt.initialize(config, kernels, TrainingOptions.defaults(), seed);
            gpt.dropout(dropout);
        } catch (RuntimeException e) {
            kernels.close();
            throw e;
        }
        try (gpt) { // closes the kernels too
            out.println("# device:  " + kernels.deviceName());
            out.println(String.format(Locale.ROOT, "# model:   %s, V=%d (Vp=%d), T=%d, C=%d, L=%d, NH=%d, %,d parameters; B=%d",
                    model, config.vocabularySize(), config.paddedVocabularySize(), T, config.channels(), config.layers(),
                    config.heads(), config.parameterCount(), batchRows));
            out.flush();
            Result result = run(gpt, config, T, commit, out);
            out.println(result.toJson());
            out.flush();
        }
        return 0;
    }

    private Result run(Gpt gpt, GptConfig config, int T, String commit, PrintWriter out) {
        int B = batchRows;
        Kernels kernels = gpt.kernels();
        int[][] batches = randomBatches(config.vocabularySize(), B, T, seed);
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long warmupStart = System.nanoTime();
        double lossFirst = Double.NaN;
        for (int i = 0; i < warmupSteps; i++) {
            StepResult step = gpt.trainStep(batches[i % batches.length], B, T);
            if (i == 0) {
                lossFirst = step.loss();
            }
        }
        out.println(String.format(Locale.ROOT, "# warm-up: %d steps in %.1f s", warmupSteps,
                (System.nanoTime() - warmupStart) / 1e9));
        out.flush();
        long syncsBefore = HostSyncs.count(kernels);
        long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
        long start = System.nanoTime();
        double lossLast = Double.NaN;
        for (int i = 0; i < steps; i++) {
            StepResult step = gpt.trainStep(batches[(warmupSteps + i) % batches.length], B, T);
            if (i == 0 && warmupSteps == 0) {
                lossFirst = step.loss();
            }
            lossLast = step.loss();
        }
        long elapsed = System.nanoTime() - start;
        long allocated = threads.getCurrentThreadAllocatedBytes() - allocatedBefore;
        long syncs = HostSyncs.count(kernels) - syncsBefore;
        double seconds = elapsed / 1e9;
        // A backend that does not count its synchronisations is reported at the model's bound, one per step.
        double hostSyncsPerStep = syncsBefore >= 0 ? (double) syncs / steps : 1.0;
        return new Result(kernels.backendName(), model, B, T, config.vocabularySize(), config.parameterCount(), steps,
                (double) B * T * steps / seconds, elapsed / 1e6 / steps, (double) allocated / steps,
                hostSyncsPerStep, lossFirst, lossLast, kernels.deviceName(), commit, 1, 0, dropout);
    }

    /** N replicas of B rows each: timed global steps, then timed all-reduces of a gradient-sized buffer. */
    private Result runReplicas(GptConfig config, int T, String commit, PrintWriter out) {
        int n = replicas;
        int B = batchRows;
        Backends.Replicas backends = Backends.openReplicas(backend, cpuThreads, n,
                WriterOutputStream.printStream(out, "# "));
        DataParallelGpt parallel;
        try {
            parallel = DataParallelGpt.initialize(config, backends.kernels(), backends.reducers(),
                    TrainingOptions.defaults(), seed);
            for (int r = 0; r < parallel.replicas(); r++) {
                parallel.replica(r).dropout(dropout);
            }
        } catch (RuntimeException e) {
            backends.kernels().forEach(Kernels::close);
            throw e;
        }
        try (parallel) {
            Kernels first = backends.kernels().get(0);
            out.println("# device:  " + n + " x " + first.deviceName());
            out.println(String.format(Locale.ROOT, "# model:   %s, V=%d (Vp=%d), T=%d, C=%d, L=%d, NH=%d, %,d parameters;"
                            + " B=%d per replica, %d replicas, global batch %d", model, config.vocabularySize(),
                    config.paddedVocabularySize(), T, config.channels(), config.layers(), config.heads(),
                    config.parameterCount(), B, n, n * B));
            out.flush();
            int[][] batches = randomBatches(config.vocabularySize(), B, T, seed);
            int[] rows = new int[n];
            java.util.Arrays.fill(rows, B);
            int[][][] shares = new int[batches.length][n][];
            for (int i = 0; i < batches.length; i++) {
                for (int r = 0; r < n; r++) {
                    shares[i][r] = batches[(i + r) % batches.length];
                }
            }
            double lossFirst = Double.NaN;
            for (int i = 0; i < warmupSteps; i++) {
                double loss = parallel.trainStep(shares[i % shares.length], rows, T).loss();
                lossFirst = i == 0 ? loss : lossFirst;
            }
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long syncsBefore = HostSyncs.count(first);
            long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
            long start = System.nanoTime();
            double lossLast = Double.NaN;
            for (int i = 0; i < steps; i++) {
                lossLast = parallel.trainStep(shares[(warmupSteps + i) % shares.length], rows, T).loss();
                lossFirst = i == 0 && warmupSteps == 0 ? lossLast : lossFirst;
            }
            long elapsed = System.nanoTime() - start;
            long allocated = threads.getCurrentThreadAllocatedBytes() - allocatedBefore;
            long syncs = HostSyncs.count(first) - syncsBefore;
            double allReduceMs = AllReduceTiming.millisecondsPerAllReduce(backends, config.parameterCount(), 10);
            out.println(String.format(Locale.ROOT, "# all-reduce of %,d floats: %.3f ms", config.parameterCount(),
                    allReduceMs));
            return new Result(first.backendName(), model, B, T, config.vocabularySize(), config.parameterCount(),
                    steps, (double) n * B * T * steps / (elapsed / 1e9), elapsed / 1e6 / steps, (double) allocated / steps,
                    syncsBefore >= 0 ? (double) syncs / steps : 1.0, lossFirst, lossLast, n + " x " + first.deviceName(),
                    commit, n, allReduceMs, dropout);
        }
    }

    private GptConfig config() {
        try {
            return GptConfig.preset(model, vocabularySize);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    /** Batches (B, T+1) of ids uniform in [0, V), from a seeded RNG. */
    static int[][] randomBatches(int V, int B, int T, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[][] batches = new int[DISTINCT_BATCHES][B * (T + 1)];
        for (int[] batch : batches) {
            for (int i = 0; i < batch.length; i++) {
                batch[i] = random.nextInt(V);
            }
        }
        return batches;
    }
}
