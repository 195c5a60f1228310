package io.streamtrain.cli;

import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.producer.ProducerSettings;
import io.streamtrain.trainer.TrainerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The repository's {@code docker-compose.yml} configures producer and trainer by the one convention of every
 * command, {@code STREAMTRAIN_<KEY>} of a config key, not by variables of its own.
 */
class DockerComposeTest {
    private static final Path COMPOSE = Path.of("..", "docker-compose.yml");
    private static final Pattern VARIABLE = Pattern.compile("STREAMTRAIN_[A-Z0-9_]+");

    private static Set<String> variablesOf(ConfigDef definition) {
        return definition.names().stream().map(CommandSettings::environmentVariable).collect(Collectors.toSet());
    }

    @Test
    void everyStreamtrainVariableOfTheComposeFileIsTheVariableOfAKeyOfBothTheProducerAndTheTrainer() throws Exception {
        String compose = Files.readString(COMPOSE);
        Set<String> named = new TreeSet<>();
        for (Matcher matcher = VARIABLE.matcher(compose); matcher.find(); ) {
            named.add(matcher.group());
        }
        assertFalse(named.isEmpty(), "the compose file names no STREAMTRAIN_ variable");
        Set<String> producer = variablesOf(ProducerSettings.DEFINITION);
        producer.add(CommandSettings.environmentVariable(TrainerConfig.MODEL)); // produce takes the preset too
        Set<String> trainer = variablesOf(TrainerConfig.CONFIG);
        for (String variable : named) {
            assertTrue(producer.contains(variable) && trainer.contains(variable), variable
                    + " in docker-compose.yml is not STREAMTRAIN_<KEY> of a key of both produce and train");
        }
    }

    @Test
    void theComposeCommandsLeaveTheShapeToTheEnvironmentSinceAFlagWouldOverrideIt() throws Exception {
        String compose = Files.readString(COMPOSE);
        for (String flag : new String[] {"--model", "--tokenizer", "--batch", "--seq-len"}) {
            assertFalse(Pattern.compile(Pattern.quote(flag) + "\\b").matcher(compose).find(),
                    flag + " in docker-compose.yml overrides STREAMTRAIN_<KEY> of the environment");
        }
    }
}
