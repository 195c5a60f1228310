package io.streamtrain.cli.commands;

import io.streamtrain.producer.ProducerSettings;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The {@link ProducerSettings} that {@code streamtrain produce} publishes with, from flags, -c, -P and the environment. */
class ProduceSettingsTest {

    private static ProducerSettings producerSettings(Map<String, String> environment, String... args) {
        return ProduceCommand.settings(CommandLineSettings.resolve(environment, "produce", args));
    }

    @Test
    void shouldTakeTheBatchShapeFromTheModelPresetWhenNoSourceSetsIt() {
        ProducerSettings settings = producerSettings(Map.of(), "--input", "a.txt", "--model", "gpt2");
        assertEquals(4, settings.batchRows());
        assertEquals(1024, settings.sequenceLength());
    }

    @Test
    void shouldLetTheEnvironmentSetTheShapeAndTheFlagWinOverIt() {
        Map<String, String> environment = Map.of("STREAMTRAIN_BATCH_ROWS", "3", "STREAMTRAIN_SEQUENCE_LENGTH", "64",
                "STREAMTRAIN_INPUTS", "from-env.txt", "STREAMTRAIN_KAFKA_COMPRESSION_TYPE", "lz4");
        ProducerSettings settings = producerSettings(environment, "--seq-len", "32");
        assertEquals(3, settings.batchRows());
        assertEquals(32, settings.sequenceLength());
        assertEquals(List.of("from-env.txt"), settings.inputs());
        assertEquals("lz4", settings.kafkaOverrides().get("compression.type"));
    }

    @Test
    void shouldAcceptProducerSettingsByDashPAsBeforeAndLetAFlagWin() {
        ProducerSettings settings = producerSettings(Map.of(), "--input", "a.txt", "-P", "epochs=3",
                "-P", "dataset=books", "--dataset", "papers");
        assertEquals(3, settings.epochs());
        assertEquals("papers", settings.dataset());
    }
}
