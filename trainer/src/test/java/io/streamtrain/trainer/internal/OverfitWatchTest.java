package io.streamtrain.trainer.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class OverfitWatchTest {

    /** Evaluations of (mean training loss since the previous one, held-out loss); the ones that warned. */
    private static List<Integer> warnings(int patience, double[][] evaluations) {
        OverfitWatch watch = new OverfitWatch(patience);
        List<Integer> warned = new ArrayList<>();
        for (int i = 0; i < evaluations.length; i++) {
            watch.recordTrainingLoss(evaluations[i][0] + 0.1);
            watch.recordTrainingLoss(evaluations[i][0] - 0.1);
            if (watch.recordEvaluation(evaluations[i][1])) {
                warned.add(i);
            }
        }
        return warned;
    }

    @Test
    void shouldWarnOnceWhenTheHeldOutLossRoseThreeTimesWhileTheTrainingLossFell() {
        double[][] memorising = {{3.0, 2.5}, {2.0, 1.8}, {1.5, 1.6}, {1.0, 1.7}, {0.6, 1.9}, {0.3, 2.2}, {0.2, 2.8},
                {0.1, 3.5}};

        assertEquals(List.of(5), warnings(3, memorising));
    }

    @Test
    void shouldNotWarnWhileBothLossesFallOrWhenTheTrainingLossRisesToo() {
        double[][] learning = {{3.0, 2.5}, {2.0, 1.8}, {1.5, 1.6}, {1.2, 1.5}, {1.0, 1.45}};
        double[][] diverging = {{1.0, 1.5}, {1.2, 1.6}, {1.4, 1.7}, {1.6, 1.8}, {1.8, 1.9}};
        double[][] interrupted = {{3.0, 1.5}, {2.0, 1.6}, {1.5, 1.7}, {1.0, 1.65}, {0.6, 1.7}, {0.3, 1.8}};

        assertEquals(List.of(), warnings(3, learning));
        assertEquals(List.of(), warnings(3, diverging));
        assertEquals(List.of(), warnings(3, interrupted), "a fall of the held-out loss starts the count again");
    }
}
