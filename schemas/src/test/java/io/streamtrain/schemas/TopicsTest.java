package io.streamtrain.schemas;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TopicsTest {

    @Test
    void shouldZeroPadTheStepSoKeysOfOneRunSortByStep() {
        assertEquals("run-7/000000000042", Topics.runStepKey("run-7", 42));
        assertTrue(Topics.runStepKey("r", 9).compareTo(Topics.runStepKey("r", 10)) < 0);
    }

    @Test
    void shouldRejectAnEmptyRunIdAndANegativeStep() {
        assertThrows(IllegalArgumentException.class, () -> Topics.runStepKey("", 1));
        assertThrows(IllegalArgumentException.class, () -> Topics.runStepKey("run", -1));
    }

    @Test
    void shouldKeyModelsByRunSoCompactionKeepsTheNewestAndTheBestOfEachRun() {
        assertEquals("run-7", Topics.modelKey("run-7", false));
        assertEquals("run-7/best", Topics.modelKey("run-7", true));
        assertThrows(IllegalArgumentException.class, () -> Topics.modelKey("", false));
    }
}
