package io.streamtrain.cli.demo;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class DemoRunTest {

    @Test
    void shouldReadByteTokenizedInputsEnoughTimesForEveryStep() {
        // 200 steps of 8 x 256 need 409,601 stream tokens; 54,000 bytes give at least 54,000 byte tokens per reading.
        assertEquals(8, DemoRun.epochs("byte", 54_000, 200L * 8 * 256 + 1));
    }

    @Test
    void shouldAssumeFewerTokensPerByteForBpeTokenizers() {
        // at least one token per 8 bytes: 6,750 tokens per reading
        assertEquals(62, DemoRun.epochs("gpt2", 54_000, 200L * 8 * 256 + 1));
    }

    @Test
    void shouldAddTwoPercentWhenTheEstimateIsTight() {
        assertEquals(2, DemoRun.epochs("byte", 1_000, 1_000));
    }

    @Test
    void shouldReadOnceWhenInputsAreLargerThanTheRunNeeds() {
        assertEquals(1, DemoRun.epochs("byte", 1_000_000_000L, 1_000));
    }
}
