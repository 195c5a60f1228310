package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {

    @Test
    void shouldWarmUpLinearlyThenStayConstant() {
        LearningRateSchedule schedule = LearningRateSchedule.constant(3e-4, 10);
        assertEquals(3e-5, schedule.at(1), 1e-15);
        assertEquals(1.5e-4, schedule.at(5), 1e-15);
        assertEquals(3e-4, schedule.at(10), 1e-15);
        assertEquals(3e-4, schedule.at(1_000_000), 1e-15);
    }

    @Test
    void shouldStartAtPeakWithoutWarmUp() {
        assertEquals(1e-3, LearningRateSchedule.constant(1e-3, 0).at(1));
    }

    @Test
    void shouldDecayByCosineToTheFloorAndStayThere() {
        LearningRateSchedule schedule = LearningRateSchedule.cosine(1e-3, 10, 110, 0.1);
        assertEquals(1e-3, schedule.at(10), 1e-15);
        assertEquals(1e-4 + 0.5 * 9e-4, schedule.at(60), 1e-12); // half way: the mean of peak and floor
        assertEquals(1e-4, schedule.at(110), 1e-15);
        assertEquals(1e-4, schedule.at(500), 1e-15);
        for (long step = 11; step < 110; step++) {
            assertTrue(schedule.at(step + 1) < schedule.at(step), "not decreasing at " + step);
        }
    }

    @Test
    void shouldRejectSchedulesThatCannotWork() {
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.constant(0, 10));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.cosine(1e-3, 100, 50, 0.1));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.cosine(1e-3, 0, 50, 1.5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LearningRateSchedule.constant(1e-3, 0).at(0));
        assertTrue(e.getMessage().contains("from 1"), e.getMessage());
    }

    @Test
    void shouldDefaultToTheReferenceTrainersOptions() {
        TrainingOptions options = TrainingOptions.defaults();
        assertEquals(0.9, options.beta1());
        assertEquals(0.95, options.beta2());
        assertEquals(1e-8, options.eps());
        assertEquals(0.1, options.weightDecay());
        assertEquals(1.0, options.maxGradientNorm());
        assertEquals(LearningRateSchedule.constant(3e-4, 10), options.schedule());
        LearningRateSchedule other = LearningRateSchedule.cosine(1e-3, 5, 50, 0);
        assertEquals(other, options.withSchedule(other).schedule());
        assertEquals(0.95, options.withSchedule(other).beta2());
    }
}
