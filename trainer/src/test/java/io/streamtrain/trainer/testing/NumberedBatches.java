package io.streamtrain.trainer.testing;

import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.TokenizerInfo;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import io.streamtrain.trainer.TrainerConfig;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Token batches whose content is a function of their sequence number (the batch id): B=2 rows of T+1=33 printable
 * byte-tokenizer ids drawn from a generator seeded with the sequence. So a test knows, from ids alone, what every
 * batch held, and can train a reference model on the same batches in the same order. Also the small CPU trainer
 * configuration these tests share.
 */
public final class NumberedBatches {
    /** Rows per batch. */
    public static final int B = 2;
    /** Sequence length; each row holds T+1 ids. */
    public static final int T = 32;
    public static final String DATASET = "numbered";

    private static final Tokenizer TOKENIZER = Tokenizers.open("byte");
    private static final Serializer<TokenBatch> SERIALIZER = AvroSerdes.tokenBatch().serializer();

    private NumberedBatches() {}

    public static TokenizerIdentity identity() {
        return new TokenizerIdentity(TOKENIZER.name(), TOKENIZER.vocabularySize(), TOKENIZER.fingerprint());
    }

    /** The ids (B, T+1) of batch {@code sequence}: printable ASCII, seeded by the sequence. */
    public static int[] tokens(long sequence) {
        SplittableRandom random = new SplittableRandom(sequence * 0x9E3779B97F4A7C15L + 17);
        int[] ids = new int[B * (T + 1)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 32 + random.nextInt(95);
        }
        return ids;
    }

    public static TokenBatch batch(long sequence) {
        int[] ids = tokens(sequence);
        TokenizerIdentity identity = identity();
        return TokenBatch.newBuilder()
                .setDataset(DATASET).setSequence(sequence)
                .setTokenizer(new TokenizerInfo(identity.name(), identity.vocabularySize(), identity.fingerprint()))
                .setRows(B).setSequenceLength(T)
                .setTokens(TokenIds.encode(ids, 0, ids.length)).setDocuments(List.of())
                .setCreatedAt(Instant.ofEpochMilli(1_700_000_000_000L + sequence)).build();
    }

    /** A metrics record of {@code step} of run {@code runId}, as the trainer emits for batch step - 1 of "topic". */
    public static TrainingMetrics metrics(String runId, long step) {
        return TrainingMetrics.newBuilder()
                .setRunId(runId).setStep(step).setTime(Instant.ofEpochMilli(1_700_000_000_000L + step * 1000))
                .setLoss(5.5).setAccuracy(0.1).setPerplexity(Math.exp(5.5)).setLearningRate(1e-3).setGradientNorm(1)
                .setTokens((long) B * T).setTokensPerSecond(1000).setWaitMillis(1).setComputeMillis(2)
                .setEmitMillis(3).setBackend("cpu").setDevice("1 thread")
                .setSourceTopic("topic").setSourcePartition(0).setSourceOffset(step - 1)
                .build();
    }

    /** The record value of batch {@code sequence}, as the producer writes it. */
    public static byte[] value(String topic, long sequence) {
        return SERIALIZER.serialize(topic, batch(sequence));
    }

    public static byte[] key() {
        return DATASET.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /**
     * A small, fast, deterministic CPU trainer: tiny model, one CPU thread, B x T as above, no samples, every key
     * as a string (ready for a child JVM's command line), plus {@code overrides} (key, value, key, value ...).
     */
    public static Map<String, String> trainerConfig(String bootstrapServers, String applicationId, String topic,
                                                    Path runDir, String... overrides) {
        Map<String, String> config = new HashMap<>();
        config.put(TrainerConfig.BOOTSTRAP_SERVERS, bootstrapServers);
        config.put(TrainerConfig.APPLICATION_ID, applicationId);
        config.put(TrainerConfig.TOKEN_BATCHES_TOPIC, topic);
        config.put(TrainerConfig.METRICS_TOPIC, topic + ".metrics");
        config.put(TrainerConfig.SAMPLES_TOPIC, topic + ".samples");
        config.put(TrainerConfig.DEAD_LETTERS_TOPIC, topic + ".dead-letters");
        config.put(TrainerConfig.MODEL, "tiny");
        config.put(TrainerConfig.BACKEND, "cpu");
        config.put(TrainerConfig.CPU_THREADS, "1");
        config.put(TrainerConfig.TOKENIZER, "byte");
        config.put(TrainerConfig.BATCH_ROWS, Integer.toString(B));
        config.put(TrainerConfig.SEQUENCE_LENGTH, Integer.toString(T));
        config.put(TrainerConfig.RUN_DIR, runDir.toString());
        config.put(TrainerConfig.LEARNING_RATE, "1e-3");
        config.put(TrainerConfig.LEARNING_RATE_WARMUP_STEPS, "2");
        config.put(TrainerConfig.SAMPLE_EVERY_STEPS, "0");
        config.put(TrainerConfig.SUMMARY_EVERY_STEPS, "0");
        config.put(TrainerConfig.CHECKPOINT_EVERY_SECONDS, "0");
        config.put(TrainerConfig.CHECKPOINT_KEEP, "3");
        config.put(TrainerConfig.STREAMS_PREFIX + "session.timeout.ms", "6000");
        config.put(TrainerConfig.STREAMS_PREFIX + "heartbeat.interval.ms", "1000");
        config.put(TrainerConfig.STREAMS_PREFIX + "commit.interval.ms", "200");
        for (int i = 0; i < overrides.length; i += 2) {
            config.put(overrides[i], overrides[i + 1]);
        }
        return config;
    }

    /** {@code key=value} arguments of {@code Trainer.main}. */
    public static List<String> arguments(Map<String, String> config) {
        List<String> arguments = new ArrayList<>();
        config.forEach((key, value) -> arguments.add(key + "=" + value));
        return arguments;
    }

    /** The same configuration with Object values, as {@code new TrainerConfig(...)} takes it. */
    public static Map<String, Object> asProperties(Map<String, String> config) {
        return new HashMap<>(config);
    }
}
