package io.streamtrain.cli.commands;

import io.streamtrain.cli.Main;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigDef.ConfigKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The settings of {@code streamtrain train} as {@link TrainCommand#call()} resolves them into the {@link TrainerConfig}
 * it trains with: defaults < --config FILE < STREAMTRAIN_&lt;KEY&gt; < -c KEY=VALUE < flags given on the command line.
 */
class TrainSettingsTest {
    @TempDir
    Path directory;

    /** The trainer config that {@code streamtrain train ARGS} would train with, in {@code environment}. */
    static TrainerConfig trainerConfig(Map<String, String> environment, String... args) {
        return TrainCommand.config(CommandLineSettings.resolve(environment, "train", args));
    }

    /** One in-process run of {@code streamtrain ARGS} in {@code environment}: exit code, standard output and error. */
    static String[] run(Map<String, String> environment, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = Main.execute(environment, new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new String[] {String.valueOf(exitCode), out.toString(), err.toString()};
    }

    private Path configFile(String... lines) throws IOException {
        Path file = directory.resolve("trainer.properties");
        Files.write(file, List.of(lines));
        return file;
    }

    @Test
    void shouldFitTheSequenceLengthToTheContextOfTheInitFromDirectoryNotThePresets() throws IOException {
        Path gpt2 = directory.resolve("gpt2-dir");
        Files.createDirectories(gpt2);
        Files.writeString(gpt2.resolve("config.json"), "{\"model_type\": \"gpt2\", \"vocab_size\": 50257,"
                + " \"n_positions\": 1024, \"n_embd\": 64, \"n_layer\": 1, \"n_head\": 2}");
        TrainerConfig config = trainerConfig(Map.of(), "--init-from", gpt2.toString(), "--seq-len", "1024");
        assertEquals(gpt2.toString(), config.initFrom());
        assertEquals(1024, config.sequenceLength(), "tiny's context is 256; the directory's is 1024");
        String[] tooLong = run(Map.of(), "train", "--init-from", gpt2.toString(), "--seq-len", "2048");
        assertEquals("2", tooLong[0], tooLong[2]);
        assertTrue(tooLong[2].contains("(the context length of " + gpt2 + "), got 2048"), tooLong[2]);
        String[] missing = run(Map.of(), "train", "--init-from", directory.resolve("nothing").toString());
        assertEquals("2", missing[0], missing[2]);
        assertTrue(missing[2].contains("is not a Hugging Face GPT-2 directory: it has no config.json"), missing[2]);
    }

    @Test
    void shouldStopAtFiveStepsWhenMaxStepsIsSetWithDashC() {
        assertEquals(5, trainerConfig(Map.of(), "-c", "max.steps=5").maxSteps());
    }

    @Test
    void shouldTrainTheModelGivenWithDashC() {
        TrainerConfig config = trainerConfig(Map.of(), "-c", "model=small");
        assertEquals("small", config.model());
    }

    @Test
    void shouldPassTheValuesOfAConfigFileToTheTrainer() throws IOException {
        Path file = configFile("model=small", "max.steps=7", "learning.rate=0.001", "application.id=from-file");
        TrainerConfig config = trainerConfig(Map.of(), "--config", file.toString());
        assertEquals("small", config.model());
        assertEquals(7, config.maxSteps());
        assertEquals(0.001, config.learningRate());
        assertEquals("from-file", config.applicationId());
        assertEquals(Path.of("runs", "from-file"), config.runDir());
    }

    @Test
    void shouldKeepEveryDefaultOfTheTrainerConfigWhenNothingIsSet() {
        TrainerConfig given = trainerConfig(Map.of());
        TrainerConfig defaults = new TrainerConfig(Map.of());
        assertEquals(defaults.effectiveValues().toString(), given.effectiveValues().toString());
    }

    @Test
    void shouldLetTheEnvironmentWinOverTheConfigFile() throws IOException {
        Path file = configFile("max.steps=7", "model=small");
        TrainerConfig config = trainerConfig(Map.of("STREAMTRAIN_MAX_STEPS", "9"), "--config", file.toString());
        assertEquals(9, config.maxSteps());
        assertEquals("small", config.model());
    }

    @Test
    void shouldLetDashCWinOverTheEnvironment() {
        TrainerConfig config = trainerConfig(Map.of("STREAMTRAIN_MAX_STEPS", "9"), "-c", "max.steps=11");
        assertEquals(11, config.maxSteps());
    }

    @Test
    void shouldLetAFlagGivenOnTheCommandLineWinOverEveryOtherSource() throws IOException {
        Path file = configFile("max.steps=7", "metrics.port=9100");
        TrainerConfig config = trainerConfig(Map.of("STREAMTRAIN_MAX_STEPS", "9"),
                "--config", file.toString(), "-c", "max.steps=11", "--max-steps", "13");
        assertEquals(13, config.maxSteps());
        assertEquals(9100, config.metricsPort(), "a flag not given overrides nothing");
    }

    @Test
    void shouldReadEveryKeyOfTheTrainerFromItsEnvironmentVariable() {
        TrainerConfig config = trainerConfig(Map.of("STREAMTRAIN_MODEL", "small", "STREAMTRAIN_BATCH_ROWS", "2",
                "STREAMTRAIN_SEQUENCE_LENGTH", "16", "STREAMTRAIN_BOOTSTRAP_SERVERS", "kafka:9092",
                "STREAMTRAIN_TOPIC_TOKEN_BATCHES", "mine", "STREAMTRAIN_STREAMS_COMMIT_INTERVAL_MS", "250"));
        assertEquals("small", config.model());
        assertEquals(2, config.batchRows());
        assertEquals(16, config.sequenceLength());
        assertEquals("kafka:9092", config.bootstrapServers());
        assertEquals("mine", config.tokenBatchesTopic());
        assertEquals("250", config.streamsOverrides().get("commit.interval.ms"));
    }

    @Test
    void shouldExitWithUsageCodeNamingTheNearestKeyWhenDashCSetsAnUnknownKey() {
        String[] run = run(Map.of(), "train", "-c", "max.step=5");
        assertEquals("2", run[0], run[2]);
        assertTrue(run[2].contains("unknown setting 'max.step' (-c); did you mean 'max.steps'"), run[2]);
    }

    @Test
    void shouldExitWithUsageCodeNamingTheFileWhenItSetsAnUnknownKey() throws IOException {
        Path file = configFile("learning.rat=0.01");
        String[] run = run(Map.of(), "train", "--config", file.toString());
        assertEquals("2", run[0], run[2]);
        assertTrue(run[2].contains("unknown setting 'learning.rat' (--config " + file + "); did you mean 'learning.rate'"),
                run[2]);
    }

    @Test
    void shouldExitWithUsageCodeNamingTheVariableWhenTheEnvironmentSetsABadValue() {
        String[] run = run(Map.of("STREAMTRAIN_MAX_STEPS", "-1"), "train");
        assertEquals("2", run[0], run[2]);
        assertTrue(run[2].contains("max.steps (from STREAMTRAIN_MAX_STEPS) must be at least 0, got -1"), run[2]);
    }

    @Test
    void shouldExitWithUsageCodeNamingTheFlagWhenSequenceLengthExceedsTheContext() {
        String[] run = run(Map.of(), "train", "--model", "tiny", "--seq-len", "300");
        assertEquals("2", run[0], run[2]);
        assertTrue(run[2].contains("--seq-len must be in [1, 256] (the context length of tiny), got 300"), run[2]);
    }

    @Test
    void shouldShowEachFlagsDocAndDefaultFromItsConfigKeyInHelp() {
        String help = run(Map.of(), "train", "--help")[1].replaceAll("\\s+", " ");
        for (String key : List.of(TrainerConfig.MAX_STEPS, TrainerConfig.APPLICATION_ID, TrainerConfig.SAMPLE_EVERY_STEPS)) {
            ConfigKey definition = TrainerConfig.CONFIG.configKeys().get(key);
            assertTrue(help.contains(definition.documentation + " (default: " + definition.defaultValue + ")"),
                    key + " in:\n" + help);
        }
        assertTrue(help.contains("lowest precedence first: each key's default, --config FILE, the environment variable "
                + "STREAMTRAIN_<KEY>"), help);
    }

    @Test
    void shouldListEverySettingWithItsValueAndWhereItCameFrom() {
        String[] run = run(Map.of("STREAMTRAIN_SEED", "7"), "train", "-c", "max.steps=5", "--model", "small",
                "--list-config");
        assertEquals("0", run[0], run[2]);
        assertTrue(run[1].contains("max.steps = 5   (from -c max.steps)"), run[1]);
        assertTrue(run[1].contains("seed = 7   (from STREAMTRAIN_SEED)"), run[1]);
        assertTrue(run[1].contains("model = small   (from --model)"), run[1]);
        assertTrue(run[1].contains("learning.rate = 3.0E-4   (default)"), run[1]);
        assertTrue(run[1].contains("flag --max-steps, env STREAMTRAIN_MAX_STEPS, default 0"), run[1]);
    }
}
