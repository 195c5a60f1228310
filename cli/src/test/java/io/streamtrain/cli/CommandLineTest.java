package io.streamtrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CommandLineTest {

    @ParameterizedTest
    @ValueSource(strings = {"demo", "produce", "train", "monitor", "broker", "replay", "checkpoint", "checkpoint show",
            "tokenizer", "tokenizer train", "bench"})
    void shouldPrintUsageWhenSubcommandIsGivenHelp(String command) {
        String[] words = (command + " --help").split(" ");
        CommandLineRun run = CommandLineRun.of(words);
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().startsWith("Usage: streamtrain " + command), run.transcript());
    }

    @Test
    void shouldExitWithUsageCodeAndNameTheFlagWhenModelPresetIsUnknown() {
        CommandLineRun run = CommandLineRun.of("demo", "--model", "huge");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().startsWith("streamtrain demo: --model must be one of tiny, small, gpt2, got 'huge'"),
                run.transcript());
        assertTrue(run.err().contains("run `streamtrain demo --help` for the options"), run.transcript());
    }

    @Test
    void shouldExitWithUsageCodeWhenOptionIsUnknown() {
        CommandLineRun run = CommandLineRun.of("bench", "--stepz", "3");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().startsWith("streamtrain bench: Unknown options: '--stepz', '3'"), run.transcript());
        assertTrue(run.err().contains("Possible solutions: --steps"), run.transcript());
    }

    @Test
    void shouldExitWithUsageCodeWhenSequenceLengthExceedsTheContext() {
        CommandLineRun run = CommandLineRun.of("bench", "--model", "tiny", "--seq-len", "257");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("--seq-len must be in [1, 256] (the context length of tiny), got 257"), run.transcript());
    }

    @Test
    void shouldExitWithUsageCodeWhenNumberIsNotANumber() {
        CommandLineRun run = CommandLineRun.of("demo", "--max-steps", "many");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("'many' is not a long"), run.transcript());
    }

    @Test
    void shouldExitWithFatalCodeAndOneLineWithoutStackTraceWhenInputIsMissing(@TempDir Path directory) {
        Path missing = directory.resolve("no-such-corpus");
        CommandLineRun run = CommandLineRun.of("tokenizer", "train", "--input", missing.toString(),
                "--vocab-size", "300", "--out", directory.resolve("vocab.bpe").toString());
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().startsWith("streamtrain tokenizer train: error: input " + missing.toAbsolutePath()
                + " does not exist"), run.transcript());
        assertFalse(run.err().contains("\tat "), "no stack trace without --verbose:\n" + run.transcript());
    }

    @Test
    void shouldPrintStackTraceWhenVerbose(@TempDir Path directory) {
        CommandLineRun run = CommandLineRun.of("tokenizer", "train", "--verbose", "--input",
                directory.resolve("no-such-corpus").toString(), "--vocab-size", "300",
                "--out", directory.resolve("vocab.bpe").toString());
        assertEquals(1, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("\tat io.streamtrain.cli."), run.transcript());
    }

    @Test
    void shouldPrintVersionAndCommit() {
        CommandLineRun run = CommandLineRun.of("--version");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().matches("(?s)streamtrain \\S+ \\(commit \\S+\\)\\R.*java .*"), run.transcript());
    }
}
