package io.streamtrain.trainer.world.internal;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.StepResult;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.TrainerListener;
import io.streamtrain.trainer.TrainingMeters;
import io.streamtrain.trainer.internal.ConsoleSummary;
import io.streamtrain.trainer.internal.Evaluator;
import io.streamtrain.trainer.internal.HeldOutState;
import io.streamtrain.trainer.internal.ModelStart;
import io.streamtrain.trainer.internal.SampleWriter;
import io.streamtrain.trainer.internal.SpikeWatch;
import java.io.PrintStream;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * What rank 0 of a world reports for it, with the one-process trainer's parts: each global step's metrics record
 * ({@link RankMetrics}) with its spike ({@link SpikeWatch}: the global batch's loss and gradient norm are the same on
 * every rank) and, every {@code eval.every.steps}, at {@code max.steps} and at a stop, its held-out evaluation
 * ({@link Evaluator} over a {@link HeldOutState} on rank 0's model: rank 0 evaluates for the world, the others wait
 * for it in the next round's exchange), the best checkpoint, the generated-text samples ({@link SampleWriter}), the
 * console's lines ({@link ConsoleSummary}: the one-process trainer's summary line every {@code summary.every.steps},
 * of the world's step), and the re-send of the restored checkpoint's records.
 */
public final class RankReports implements AutoCloseable {
    private final TrainerConfig config;
    private final Gpt gpt;
    private final int worldSize;
    private final TrainingMeters meters;
    private final PrintStream log;
    private final HeldOutState heldOut;
    private final Evaluator evaluator;
    private final SpikeWatch spikes;
    private final SampleWriter samples;
    private final TrainerListener listener;
    private final RankMetrics metrics;

    /**
     * Rank 0's reports; sends again the records the restored checkpoint carries (see {@link RankMetrics#resend}).
     *
     * @param restored       the restored checkpoint's metadata (empty for a new model)
     * @param bestCheckpoint the world's checkpoint of this step, asked for at a new best held-out loss
     */
    public RankReports(TrainerConfig config, Gpt gpt, Tokenizer tokenizer, String runId, int worldSize,
                       Map<String, String> restored, Supplier<Checkpoint> bestCheckpoint, TrainingMeters meters,
                       PrintStream log) {
        this.config = config;
        this.gpt = gpt;
        this.worldSize = worldSize;
        this.meters = meters;
        this.log = log;
        this.listener = TrainerListener.all(List.of(new ConsoleSummary(log, config.summaryEverySteps())));
        this.heldOut = new HeldOutState(gpt, config.batchRows(), config.sequenceLength(),
                HeldOutState.bestCheckpoints(config), bestCheckpoint, restored);
        this.spikes = new SpikeWatch(config.spikeWarningLossRatio(), config.spikeWarningGradientNormRatio());
        this.samples = new SampleWriter(config, tokenizer, runId);
        this.metrics = new RankMetrics(config.kafkaClients(), config.metricsTopic(), config.samplesTopic(),
                config.tokenBatchesTopic(), runId, gpt.kernels().backendName(),
                worldSize + " ranks x " + gpt.kernels().deviceName(), restored, listener, log);
        int resent = metrics.resend();
        if (resent > 0) {
            log.println("rank 0: re-sent " + resent + " metrics and sample record(s) of the checkpoint's last steps to "
                    + config.metricsTopic() + " and " + config.samplesTopic()
                    + " (a crash may have lost them before delivery)");
        }
        this.evaluator = Evaluator.open(config, heldOut, config.kafkaClients().clientConfig(Map.of(
                        CommonClientConfigs.CLIENT_ID_CONFIG, config.applicationId() + "-rank-0-eval-loader")),
                ModelStart.identityOf(tokenizer), gpt.config(), log);
    }

    /**
     * The reports of the global step just taken on {@code globalRows} rows: its spike (an applied step), its
     * evaluation when due, its metrics record, its samples when due.
     *
     * @param source rank 0's record of the step, null when it had none
     * @param tokens rank 0's batch (B, T+1), null when it had none
     */
    public void stepTaken(StepResult result, int globalRows, ConsumerRecord<byte[], byte[]> source, int[] tokens) {
        long step = gpt.step();
        int T = config.sequenceLength();
        SpikeWatch.Spike spike = result.applied() ? spikes.check(result.loss(), result.gradientNorm()) : null;
        Optional<Evaluation> evaluation = Optional.empty();
        if (result.applied()) {
            evaluator.recordTrainingLoss(result.loss());
            evaluation = evaluator.evaluateIfDue(step);
        }
        String key = metrics.emit(step, result, globalRows, T, worldSize, meters.lastAllReduceMillis(), source,
                spike == null ? null : spike.description(), evaluation);
        evaluation.ifPresent(e -> evaluator.announce(e, listener));
        if (samples.due(step)) {
            samples.emit(key, step, tokens, T, gpt::generate, metrics::sample);
        }
        if (spike != null) {
            spike.kinds().forEach(meters::recordSpike);
        }
    }

    /**
     * The world stops cleanly: evaluates its last step when evaluations are on and it was trained in this run and not
     * evaluated yet (its figures go to the console and, in the step's record completed with them, to the metrics
     * topic, as the one-process trainer's stop-time evaluation), and waits until every record was delivered, so that
     * the final checkpoint carries none to send again.
     */
    public void stopping(boolean trainedHere) {
        evaluator.evaluateAtStop(gpt.step(), trainedHere).ifPresent(e -> {
            evaluator.announce(e, listener);
            metrics.completeWith(e);
        });
        metrics.delivered();
    }

    /** The closing line, after the final checkpoint: the best held-out loss of the run, if any. */
    public void stopped() {
        ConsoleSummary.bestLine(heldOut, config).ifPresent(log::println);
    }

    /** What the world's checkpoints carry of rank 0's reports: the best held-out loss, the records to re-send. */
    public void writeTo(Map<String, String> metadata) {
        heldOut.writeTo(metadata);
        metrics.writeTo(metadata);
    }

    @Override
    public void close() {
        evaluator.close();
        metrics.close(); // flushes the last records
    }
}
