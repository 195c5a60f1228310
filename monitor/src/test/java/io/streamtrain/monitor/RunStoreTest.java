package io.streamtrain.monitor;

import static io.streamtrain.monitor.TrainingRecords.metrics;
import static io.streamtrain.monitor.TrainingRecords.sample;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.schemas.TrainingMetrics;
import java.util.List;
import org.junit.jupiter.api.Test;

class RunStoreTest {
    @Test
    void shouldKeepOnePointPerStepWhenTheSameRecordsAreReplayed() {
        RunStore store = new RunStore();
        for (long step = 1; step <= 20; step++) {
            assertTrue(store.putMetrics(metrics("run-a", step)));
        }
        long version = store.version();
        for (long step = 1; step <= 20; step++) { // a replay of the topic from the beginning
            assertFalse(store.putMetrics(metrics("run-a", step)), "an identical replayed record changes nothing");
        }
        assertEquals(20, store.metrics("run-a").size());
        assertEquals(version, store.version());
        assertTrue(store.changesSince(version).metrics().isEmpty(), "a replay pushes no new point to the dashboard");
    }

    @Test
    void shouldReplaceTheValueOfAStepWhenARestartedTrainerReEmitsIt() {
        RunStore store = new RunStore();
        for (long step = 1; step <= 10; step++) {
            store.putMetrics(metrics("run-a", step));
        }
        long version = store.version();
        // The trainer restarts from its step-6 checkpoint: steps 7..10 come again with other losses, then 11..12.
        for (long step = 7; step <= 12; step++) {
            assertTrue(store.putMetrics(metrics("run-a", step, 1.0 + step / 100.0)));
        }
        List<TrainingMetrics> run = store.metrics("run-a");
        assertEquals(12, run.size());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L, 11L, 12L), run.stream().map(TrainingMetrics::getStep).toList());
        assertEquals(1.07, run.get(6).getLoss(), 1e-12, "the last value of step 7 wins");
        assertEquals(6, store.changesSince(version).metrics().size(), "only the re-emitted and new steps are pushed");
    }

    @Test
    void shouldKeepEachRunAsItsOwnSeriesWhenRunsInterleave() {
        RunStore store = new RunStore();
        for (long step = 1; step <= 8; step++) {
            store.putMetrics(metrics("run-a", step));
            if (step <= 5) {
                store.putMetrics(metrics("replay-of-a", step)); // a replay under a new run id is its own series
            }
        }
        assertEquals(List.of("run-a", "replay-of-a"), store.runIds());
        assertEquals(8, store.metrics("run-a").size());
        assertEquals(5, store.metrics("replay-of-a").size());
        assertEquals(13, store.allMetrics().size());
        assertTrue(store.metrics("run-a").stream().allMatch(m -> m.getRunId().equals("run-a")));
    }

    @Test
    void shouldKeepOnlyTheChosenRunWhenARunFilterIsSet() {
        RunStore store = new RunStore("run-b", 100, 10, 4);
        assertFalse(store.putMetrics(metrics("run-a", 1)));
        assertTrue(store.putMetrics(metrics("run-b", 1)));
        assertEquals(List.of("run-b"), store.runIds());
    }

    @Test
    void shouldDropTheOldestStepsWhenARunExceedsItsBound() {
        RunStore store = new RunStore(null, 50, 3, 2);
        for (long step = 1; step <= 120; step++) {
            store.putMetrics(metrics("run-a", step));
        }
        for (long step = 10; step <= 60; step += 10) {
            store.putSample(sample("run-a", step, "text " + step));
        }
        assertEquals(50, store.metrics("run-a").size());
        assertEquals(71, store.metrics("run-a").get(0).getStep());
        assertEquals(List.of(40L, 50L, 60L), store.samples("run-a").stream().map(s -> s.getStep()).toList());
        store.putMetrics(metrics("run-b", 1));
        store.putMetrics(metrics("run-c", 1)); // a third run drops the run updated longest ago
        assertEquals(List.of("run-b", "run-c"), store.runIds());
    }

    @Test
    void shouldKeepTwoSamplesOfOneStepWhenTheirPromptsDiffer() {
        RunStore store = new RunStore();
        store.putSample(sample("run-a", 10, "from the batch"));
        store.putSample(io.streamtrain.schemas.TextSample.newBuilder(sample("run-a", 10, "from the fixed prompt")).setPrompt("ROMEO:").build());
        assertFalse(store.putSample(sample("run-a", 10, "from the batch")), "a replayed sample changes nothing");
        store.putSample(sample("run-a", 10, "re-emitted after a restart"));
        assertEquals(2, store.samples("run-a").size());
        assertEquals("re-emitted after a restart", store.samples("run-a").get(0).getGenerated());
    }

    @Test
    void shouldWakeAWaiterWhenAPointArrives() throws InterruptedException {
        RunStore store = new RunStore();
        Thread producer = new Thread(() -> store.putMetrics(metrics("run-a", 1)));
        producer.start();
        assertTrue(store.awaitChange(0, 10_000));
        producer.join();
        assertFalse(store.awaitChange(store.version(), 10));
    }
}
