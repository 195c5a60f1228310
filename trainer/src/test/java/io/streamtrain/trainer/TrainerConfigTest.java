package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.schemas.Topics;
import java.nio.file.Path;
import java.util.Map;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

class TrainerConfigTest {

    @Test
    void shouldDeriveDefaultsFromTheTopicsAndTheModelPreset() {
        TrainerConfig config = new TrainerConfig(Map.of());
        assertEquals("localhost:9092", config.bootstrapServers());
        assertEquals("streamtrain-trainer", config.applicationId());
        assertEquals(Topics.TOKEN_BATCHES, config.tokenBatchesTopic());
        assertEquals(Topics.METRICS, config.metricsTopic());
        assertEquals(Topics.SAMPLES, config.samplesTopic());
        assertEquals(Topics.DEAD_LETTERS, config.deadLettersTopic());
        assertEquals("tiny", config.model());
        assertEquals("auto", config.backend());
        assertEquals(TrainerConfig.defaultBatchRows("tiny"), config.batchRows());
        assertEquals(256, config.sequenceLength());
        assertEquals(50, config.sampleEverySteps());
        assertEquals(40, config.sampleMaxNewTokens());
        assertEquals(10, config.samplePromptTokens());
        assertEquals(0, config.maxSteps());
        assertEquals(0, config.metricsPort());
        assertEquals("", config.runId());
        assertEquals(Path.of("runs", "streamtrain-trainer"), config.runDir());
        assertEquals(Path.of("runs", "streamtrain-trainer", "checkpoints"), config.checkpointDir());
        assertEquals(1024, new TrainerConfig(Map.of(TrainerConfig.MODEL, "gpt2")).sequenceLength());
    }

    @Test
    void shouldPrintEveryEffectiveValueWithDerivedOnesResolved() {
        TrainerConfig config = new TrainerConfig(Map.of(TrainerConfig.RUN_DIR, "/tmp/run-7",
                TrainerConfig.BOOTSTRAP_SERVERS, "a:1,b:2", TrainerConfig.STREAMS_PREFIX + "commit.interval.ms", "500"));
        String summary = config.toString();
        assertTrue(summary.contains("bootstrap.servers = a:1,b:2"), summary);
        assertTrue(summary.contains("batch.rows = 8"), summary);
        assertTrue(summary.contains("sequence.length = 256"), summary);
        assertTrue(summary.contains("checkpoint.dir = " + Path.of("/tmp/run-7", "checkpoints")), summary);
        assertTrue(summary.contains("streams.commit.interval.ms = 500"), summary);
        assertEquals(TrainerConfig.CONFIG.names().size() + 1, config.effectiveValues().size());
        assertEquals(Map.of("commit.interval.ms", "500"), config.streamsOverrides());
    }

    @Test
    void shouldRejectAnUnknownBackendNamingTheKey() {
        ConfigException error = assertThrows(ConfigException.class,
                () -> new TrainerConfig(Map.of(TrainerConfig.BACKEND, "tpu")));
        assertTrue(error.getMessage().contains("backend") && error.getMessage().contains("tpu"), error.getMessage());
    }

    @Test
    void shouldRejectACosineDecayWithoutAnEnd() {
        ConfigException error = assertThrows(ConfigException.class,
                () -> new TrainerConfig(Map.of(TrainerConfig.LEARNING_RATE_DECAY, "cosine")));
        assertTrue(error.getMessage().contains(TrainerConfig.MAX_STEPS), error.getMessage());
        assertEquals(500, new TrainerConfig(Map.of(TrainerConfig.LEARNING_RATE_DECAY, "cosine",
                TrainerConfig.MAX_STEPS, "500")).learningRateDecaySteps());
    }

    @Test
    void shouldGenerateDistinctRunIds() {
        String first = TrainerConfig.generateRunId();
        assertTrue(first.matches("\\d{8}-\\d{6}-[0-9a-f]{4}"), first);
        assertTrue(!first.equals(TrainerConfig.generateRunId()) || !first.equals(TrainerConfig.generateRunId()));
    }

    @Test
    void metricsBeyondLoopbackNeedATokenUnlessAllowedAndTheTokenIsNeverPrinted() {
        assertEquals("127.0.0.1", new TrainerConfig(Map.of()).metricsHost());
        ConfigException error = assertThrows(ConfigException.class,
                () -> new TrainerConfig(Map.of(TrainerConfig.METRICS_HOST, "0.0.0.0")));
        assertTrue(error.getMessage().contains("metrics.host") && error.getMessage().contains("http.token"),
                error.getMessage());
        assertTrue(new TrainerConfig(Map.of(TrainerConfig.METRICS_HOST, "0.0.0.0",
                "http.allow.unauthenticated", "true")).metricsHost().equals("0.0.0.0"));
        TrainerConfig withToken = new TrainerConfig(Map.of(TrainerConfig.METRICS_HOST, "0.0.0.0", "http.token", "s3cret",
                "kafka.sasl.jaas.config", "PlainLoginModule required username=\"a\" password=\"pw\";",
                "kafka.security.protocol", "SASL_SSL"));
        assertTrue(withToken.httpAccess().requiresToken());
        String printed = withToken.toString();
        assertTrue(!printed.contains("s3cret") && !printed.contains("pw") && printed.contains("kafka.security.protocol = SASL_SSL"),
                printed);
    }
}
