package io.streamtrain.cli;

import io.streamtrain.cli.options.CommandSettings;
import org.apache.kafka.common.config.ConfigDef.ConfigKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * One settings mechanism for every command: flags made from config keys, {@code --config FILE},
 * {@code STREAMTRAIN_<KEY>}, {@code -c KEY=VALUE}, {@code --list-config}, and unknown keys as usage errors.
 */
class CommandSettingsTest {
    private static final List<String> CONFIGURABLE = List.of("demo", "produce", "train", "monitor", "broker", "replay",
            "tokenizer train", "bench");

    @TempDir
    Path directory;

    private static CommandLineRun run(Map<String, String> environment, String command, String... args) {
        List<String> words = new ArrayList<>(List.of(command.split(" ")));
        words.addAll(List.of(args));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = Main.execute(environment, new PrintWriter(out, true), new PrintWriter(err, true),
                words.toArray(String[]::new));
        return new CommandLineRun(exitCode, out.toString(), err.toString());
    }

    private static CommandLine subcommand(String command) {
        CommandLine commandLine = Main.commandLine(Map.of());
        for (String word : command.split(" ")) {
            commandLine = commandLine.getSubcommands().get(word);
        }
        return commandLine;
    }

    @ParameterizedTest
    @ValueSource(strings = {"demo", "produce", "train", "monitor", "broker", "replay", "tokenizer train", "bench"})
    void shouldTakeEachFlagsHelpAndDefaultFromTheKeyItSets(String command) {
        CommandLine commandLine = subcommand(command);
        CommandSettings settings = ((CommandSettings.Configurable) commandLine.getCommand()).settings();
        assertFalse(settings.flagKeys().isEmpty(), command);
        settings.flagKeys().forEach((flag, key) -> {
            ConfigKey definition = settings.definition().configKeys().get(key);
            OptionSpec option = commandLine.getCommandSpec().findOption(flag);
            String help = String.join(" ", option.description()).replace("%%", "%");
            assertTrue(help.contains(definition.documentation), command + " " + flag + ": " + help);
            String shownDefault = !definition.hasDefault() || definition.defaultValue == null ? ""
                    : definition.defaultValue instanceof List<?> list
                    ? String.join(",", list.stream().map(String::valueOf).toList()) : String.valueOf(definition.defaultValue);
            if (!shownDefault.isEmpty() && option.arity().max() > 0) {
                assertTrue(help.endsWith("(default: " + shownDefault + ")"), command + " " + flag + ": " + help);
            }
            assertEquals(null, option.defaultValue(), command + " " + flag + ": a flag not given sets nothing");
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"demo", "produce", "train", "monitor", "broker", "replay", "tokenizer train", "bench"})
    void shouldStateThePrecedenceAtTheEndOfEveryConfigurableCommandsHelp(String command) {
        CommandLineRun run = run(Map.of(), command, "--help");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().replaceAll("\\s+", " ").contains(
                "lowest precedence first: each key's default, --config FILE, the environment variable STREAMTRAIN_<KEY>"),
                run.transcript());
    }

    @ParameterizedTest
    @ValueSource(strings = {"demo", "produce", "train", "monitor", "broker", "replay", "tokenizer train", "bench"})
    void shouldExitWithUsageCodeNamingTheNearestKeyWhenAnyCommandIsGivenAnUnknownKey(String command) {
        CommandSettings settings = ((CommandSettings.Configurable) subcommand(command).getCommand()).settings();
        String known = settings.definition().configKeys().keySet().iterator().next();
        String typo = known.substring(0, known.length() - 1);
        CommandLineRun run = run(Map.of(), command, "-c", typo + "=1");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("unknown setting '" + typo + "' (-c); did you mean '" + known + "'"), run.transcript());
    }

    @ParameterizedTest
    @ValueSource(strings = {"demo", "produce", "train", "monitor", "broker", "replay", "tokenizer train", "bench"})
    void shouldListEveryKeyWithItsVariableWhenAnyCommandIsAskedForItsConfig(String command) {
        CommandSettings settings = ((CommandSettings.Configurable) subcommand(command).getCommand()).settings();
        CommandLineRun run = run(Map.of(), command, "--list-config");
        assertEquals(0, run.exitCode(), run.transcript());
        for (String key : settings.definition().configKeys().keySet()) {
            assertTrue(run.out().contains("\n" + key + " = "), key + " in " + run.transcript());
            assertTrue(run.out().contains("env " + CommandSettings.environmentVariable(key)), key + " in " + run.transcript());
        }
    }

    @Test
    void shouldReadTheMonitorsPortFromTheEnvironmentAndLetTheFlagWin() {
        Map<String, String> environment = Map.of("STREAMTRAIN_HTTP_PORT", "9999", "STREAMTRAIN_RUN_ID", "run-7");
        CommandLineRun fromEnvironment = run(environment, "monitor", "--list-config");
        assertTrue(fromEnvironment.out().contains("http.port = 9999   (from STREAMTRAIN_HTTP_PORT)"), fromEnvironment.transcript());
        assertTrue(fromEnvironment.out().contains("run.id = run-7   (from STREAMTRAIN_RUN_ID)"), fromEnvironment.transcript());
        CommandLineRun fromFlag = run(environment, "monitor", "--port", "7000", "--list-config");
        assertTrue(fromFlag.out().contains("http.port = 7000   (from --port)"), fromFlag.transcript());
    }

    @Test
    void shouldListTheVariablesThatNameNoKeyOfTheCommand() {
        CommandLineRun run = run(Map.of("STREAMTRAIN_MAX_STEP", "5", "STREAMTRAIN_HTTP_PORT", "9999"), "train",
                "--list-config");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("ignored (no key of streamtrain train): STREAMTRAIN_HTTP_PORT, STREAMTRAIN_MAX_STEP"),
                run.transcript());
    }

    @Test
    void shouldReadTheBrokersSettingsFromAConfigFileAndLetDashCWin() throws Exception {
        Path file = Files.writeString(directory.resolve("broker.properties"), "port=9200\npartitions=3\n");
        CommandLineRun run = run(Map.of("STREAMTRAIN_PARTITIONS", "4"), "broker", "--config", file.toString(),
                "-c", "port=9300", "--list-config");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("port = 9300   (from -c port)"), run.transcript());
        assertTrue(run.out().contains("partitions = 4   (from STREAMTRAIN_PARTITIONS)"), run.transcript());
    }

    @Test
    void shouldNameTheSourceWhenAValueFromTheEnvironmentIsInvalid() {
        CommandLineRun run = run(Map.of("STREAMTRAIN_MODEL", "huge"), "demo");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("model (from STREAMTRAIN_MODEL) must be one of tiny, small, gpt2, got 'huge'"),
                run.transcript());
    }

    @Test
    void shouldNameTheFlagWhenARequiredSettingIsMissing() {
        CommandLineRun run = run(Map.of(), "replay", "--to-earliest");
        assertEquals(2, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("--application-id is required (or application.id by -c, --config or "
                + "STREAMTRAIN_APPLICATION_ID)"), run.transcript());
    }

    @Test
    void shouldTakeTheProducersInputsFromTheEnvironment() {
        CommandLineRun run = run(Map.of("STREAMTRAIN_INPUTS", "a.txt,b.txt"), "produce", "--list-config");
        assertTrue(run.out().contains("inputs = a.txt,b.txt   (from STREAMTRAIN_INPUTS)"), run.transcript());
    }
}
