package io.streamtrain.monitor;

import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TrainingMetrics;
import java.time.Instant;

/** Plausible records of a run for the tests: loss falling with the step, throughput varying per step. */
final class TrainingRecords {
    static final Instant START = Instant.parse("2026-11-20T12:00:00Z");

    private TrainingRecords() {}

    static TrainingMetrics metrics(String runId, long step) {
        return metrics(runId, step, 5.5 - Math.log1p(step) * 0.4);
    }

    static TrainingMetrics metrics(String runId, long step, double loss) {
        return TrainingMetrics.newBuilder()
            .setRunId(runId).setStep(step).setTime(START.plusMillis(step * 250))
            .setLoss(loss).setAccuracy(Math.min(0.9, 0.05 + step * 0.01)).setPerplexity(Math.exp(loss))
            .setLearningRate(3e-4 * Math.min(1.0, step / 10.0)).setGradientNorm(1.0 + 1.0 / step)
            .setTokens(4 * 64).setTokensPerSecond(1000.0 + 37.0 * step + runId.length())
            .setWaitMillis(1.5).setComputeMillis(200.0).setEmitMillis(0.5)
            .setBackend("cpu").setDevice("test CPU")
            .setSourceTopic("streamtrain.token-batches").setSourcePartition(0).setSourceOffset(step - 1)
            .build();
    }

    /** {@code metrics} with the figures of a held-out evaluation of loss {@code evalLoss}. */
    static TrainingMetrics evaluated(TrainingMetrics metrics, double evalLoss) {
        return TrainingMetrics.newBuilder(metrics).setEvalLoss(evalLoss).setEvalAccuracy(0.4)
            .setEvalPerplexity(Math.exp(evalLoss)).setEvalTokens(4096L).build();
    }

    /** {@code metrics} of a data-parallel step over {@code ranks} ranks (TrainingMetrics v3). */
    static TrainingMetrics dataParallel(TrainingMetrics metrics, int ranks, int globalRows, Double allReduceMillis) {
        return TrainingMetrics.newBuilder(metrics).setRanks(ranks).setGlobalRows(globalRows).setAllReduceMillis(allReduceMillis)
            .setTokens((long) globalRows * 64).build();
    }

    static TextSample sample(String runId, long step, String generated) {
        return TextSample.newBuilder()
            .setRunId(runId).setStep(step).setTime(START.plusMillis(step * 250))
            .setPrompt("First Citizen:").setGenerated(generated).setActual("Before we proceed any further, hear me speak.")
            .setTemperature(1.0).setTopK(40).setMaxNewTokens(40).setSeed(step)
            .build();
    }
}
