package io.streamtrain.tokenizer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A small corpus written by the tests: verse with repeats, so that BPE has frequent pairs to merge. */
final class Corpus {
    static final String VERSE = """
            First Citizen:
            Before we proceed any further, hear me speak.

            All:
            Speak, speak.

            First Citizen:
            You are all resolved rather to die than to famish?

            All:
            Resolved. resolved.

            First Citizen:
            First, you know Caius Marcius is chief enemy to the people.
            光の中で、猫が寝ている。 the cat sleeps in the light \uD83D\uDE00
            """;

    private Corpus() {}

    /** {@code copies} numbered copies of the verse, plus the shared test texts, in {@code file}. */
    static Path write(Path file, int copies) throws IOException {
        StringBuilder text = new StringBuilder();
        for (int copy = 0; copy < copies; copy++) {
            text.append("Scene ").append(copy).append('\n').append(VERSE);
        }
        TokenizerContractTest.TEXTS.forEach(sample -> text.append(sample).append('\n'));
        return Files.writeString(file, text, StandardCharsets.UTF_8);
    }
}
