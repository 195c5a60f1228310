package io.streamtrain.trainer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class SpikeWatchTest {
    @Test
    void shouldReportAGradientNormFarAboveTheRecentAverageButNotTheUsualFallOfLossAndNorm() {
        SpikeWatch watch = new SpikeWatch(1.3, 5.0);
        for (int step = 1; step <= 22; step++) { // loss 5.6 -> 3.1, gradient norm 5 -> 1.1, as the demo begins
            SpikeWatch.Spike spike = watch.check(5.6 - step * 0.12, 5.0 - step * 0.18);
            assertFalse(spike.any(), "step " + step + ": " + spike);
        }
        SpikeWatch.Spike spike = watch.check(3.0, 270.0); // the demo's step 23
        assertEquals(List.of(SpikeWatch.GRADIENT_NORM), spike.kinds());
        assertTrue(spike.description().startsWith("gradient norm 270.0 is "), spike.description());
        assertTrue(spike.description().matches(".*is \\d+\\.\\dx its recent average \\d+\\.\\d\\d"), spike.description());
    }

    @Test
    void shouldReportALossSpikeAndBothKindsOfOneStepTogether() {
        SpikeWatch watch = new SpikeWatch(1.3, 5.0);
        for (int step = 1; step <= 10; step++) {
            watch.check(2.5, 1.0);
        }
        SpikeWatch.Spike loss = watch.check(4.0, 1.0);
        assertEquals(List.of(SpikeWatch.LOSS), loss.kinds());
        assertEquals("loss 4.0000 is 1.6x its recent average 2.5000", loss.description());
        SpikeWatch.Spike both = bothAfter(10);
        assertEquals(List.of(SpikeWatch.LOSS, SpikeWatch.GRADIENT_NORM), both.kinds());
        assertTrue(both.description().contains("; gradient norm"), both.description());
    }

    @Test
    void shouldReportNothingInTheFirstStepsNorWhenARatioIsZero() {
        SpikeWatch watch = new SpikeWatch(1.3, 5.0);
        watch.check(2.0, 1.0);
        assertFalse(watch.check(20.0, 100.0).any(), "the averages need a few steps first");
        SpikeWatch off = new SpikeWatch(0, 0);
        for (int step = 1; step <= 10; step++) {
            off.check(2.0, 1.0);
        }
        assertFalse(off.check(20.0, 100.0).any());
    }

    private static SpikeWatch.Spike bothAfter(int steps) {
        SpikeWatch watch = new SpikeWatch(1.3, 5.0);
        for (int step = 1; step <= steps; step++) {
            watch.check(2.5, 1.0);
        }
        return watch.check(5.0, 50.0);
    }
}
