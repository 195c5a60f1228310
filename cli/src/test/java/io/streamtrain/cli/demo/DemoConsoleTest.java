package io.streamtrain.cli.demo;

import io.streamtrain.schemas.TrainingMetrics;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoConsoleTest {
    private static final long SECOND = 1_000_000_000L;

    @Test
    void shouldSayEtaEstimatingUntilAFewStepsAreMeasuredAndThenUseTheirPaceNotTheStart() {
        StringWriter text = new StringWriter();
        AtomicLong now = new AtomicLong();
        DemoConsole console = new DemoConsole(new PrintWriter(text), 200, true, now::get);
        now.addAndGet(30 * SECOND); // broker, JVM and the first batch: 30 s before step 1
        for (long step = 1; step <= DemoConsole.ETA_AFTER_STEPS; step++) {
            console.onStep(metrics(step));
            assertTrue(lastLine(text).contains("ETA estimating"), lastLine(text));
            now.addAndGet(SECOND / 10); // then 0.1 s per step
        }
        console.onStep(metrics(DemoConsole.ETA_AFTER_STEPS + 1));
        // 194 steps left at 0.1 s each: 19 s, not the 30 s-per-step guess of the start (1h37m)
        assertTrue(lastLine(text).contains("ETA 19s"), lastLine(text));
    }

    @Test
    void shouldWarnOfASpikeOnALineOfItsOwn() {
        StringWriter text = new StringWriter();
        DemoConsole console = new DemoConsole(new PrintWriter(text), 200, true);
        console.onStep(metrics(22));
        console.onStep(TrainingMetrics.newBuilder(metrics(23)).setGradientNorm(270)
                .setSpike("gradient norm 270.0 is 200.0x its recent average 1.35").build());
        assertTrue(text.toString().contains("\nwarning: spike at step 23: gradient norm 270.0 is 200.0x its recent"
                + " average 1.35\n"), text.toString());
    }

    private static String lastLine(StringWriter text) {
        String all = text.toString();
        return all.substring(all.lastIndexOf('\r') + 1);
    }

    private static TrainingMetrics metrics(long step) {
        return TrainingMetrics.newBuilder()
                .setRunId("run").setStep(step).setTime(Instant.EPOCH.plusSeconds(step))
                .setLoss(5.0).setAccuracy(0.1).setPerplexity(Math.exp(5.0)).setLearningRate(1e-3).setGradientNorm(1.0)
                .setTokens(2048).setTokensPerSecond(20_000).setWaitMillis(1).setComputeMillis(90).setEmitMillis(1)
                .setBackend("cpu").setDevice("test CPU").setSourceTopic("t").setSourcePartition(0).setSourceOffset(step)
                .build();
    }
}
