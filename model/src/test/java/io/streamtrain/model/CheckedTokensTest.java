package io.streamtrain.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.cpu.CpuKernels;
import org.junit.jupiter.api.Test;

/** A batch checked once: what the check names, and a model that refuses a batch checked for another. */
class CheckedTokensTest {
    private static final GptConfig CONFIG = GptConfig.of(67, 16, 32, 2, 4);
    private static final TrainingOptions OPTIONS =
            TrainingOptions.defaults().withSchedule(LearningRateSchedule.constant(1e-2, 2));
    private static final int B = 2;
    private static final int T = 8;

    private static int[] ids() {
        int[] ids = new int[B * (T + 1)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % CONFIG.vocabularySize();
        }
        return ids;
    }

    @Test
    void shouldNameTheIndexAndTheIdOfTheFirstIdOutsideTheVocabulary() {
        int[] ids = ids();
        ids[12] = 67;
        ids[14] = -1;

        TokenIdOutOfRangeException e = assertThrows(TokenIdOutOfRangeException.class,
                () -> CheckedTokens.check(CONFIG, ids, B, T));
        assertEquals(12, e.index());
        assertEquals(67, e.id());
        assertEquals(67, e.vocabularySize());
        assertEquals("tokens[12] = 67 is not an id of the vocabulary [0, 67)", e.getMessage());
    }

    @Test
    void shouldTrainACheckedBatchAsTheSameIdsGivenAsAnArray() {
        try (Gpt checked = Gpt.initialize(CONFIG, new CpuKernels(1), OPTIONS, 7);
             Gpt plain = Gpt.initialize(CONFIG, new CpuKernels(1), OPTIONS, 7)) {
            for (int step = 0; step < 3; step++) {
                StepResult a = checked.trainStep(CheckedTokens.check(CONFIG, ids(), B, T));
                StepResult b = plain.trainStep(ids(), B, T);
                assertEquals(b.loss(), a.loss(), 0.0, "step " + step);
            }
        }
    }

    @Test
    void shouldRefuseABatchCheckedForAModelOfAnotherVocabulary() {
        GptConfig larger = GptConfig.of(300, 16, 32, 2, 4);
        int[] ids = ids();
        ids[0] = 200; // an id of the larger vocabulary only
        CheckedTokens batch = CheckedTokens.check(larger, ids, B, T);
        try (Gpt gpt = Gpt.initialize(CONFIG, new CpuKernels(1), OPTIONS, 7)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> gpt.trainStep(batch));
            assertTrue(e.getMessage().contains("does not fit a model of V=67"), e.getMessage());
        }
    }
}
