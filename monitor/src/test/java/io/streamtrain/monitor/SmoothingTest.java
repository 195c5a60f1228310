package io.streamtrain.monitor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.monitor.internal.Smoothing;
import org.junit.jupiter.api.Test;

class SmoothingTest {
    @Test
    void shouldStartAtTheFirstValueAndFollowAConstantExactlyWhenBiasCorrected() {
        assertArrayEquals(new double[] {3, 3, 3}, Smoothing.ema(new double[] {3, 3, 3}, 0.9), 1e-12);
        double[] smoothed = Smoothing.ema(new double[] {4, 2}, 0.9);
        assertEquals(4, smoothed[0], 1e-12);
        assertEquals((0.9 * 0.1 * 4 + 0.1 * 2) / (1 - 0.81), smoothed[1], 1e-12);
    }

    @Test
    void shouldLeaveAGapWhereAValueIsNotFinite() {
        double[] smoothed = Smoothing.ema(new double[] {1, Double.NaN, 1}, 0.9);
        assertTrue(Double.isNaN(smoothed[1]));
        assertEquals(1, smoothed[2], 1e-12);
    }
}
