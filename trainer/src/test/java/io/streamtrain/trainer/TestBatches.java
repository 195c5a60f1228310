package io.streamtrain.trainer;

import static java.nio.charset.StandardCharsets.UTF_8;

import io.streamtrain.model.TokenizerIdentity;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.schemas.TokenizerInfo;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Token batches and trainer configurations for the tests: real byte-tokenized text, shapes chosen per test. */
final class TestBatches {
    static final String TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"
            + " the slings and arrows of outrageous fortune, or to take arms against a sea of troubles and by"
            + " opposing end them. To die, to sleep; no more; and by a sleep to say we end the heart-ache and the"
            + " thousand natural shocks that flesh is heir to. ";

    /** The backend of the tests' models: cpu, or the {@code streamtrain.test.backend} system property. */
    static final String BACKEND = System.getProperty("streamtrain.test.backend", "cpu");

    private final Tokenizer tokenizer = Tokenizers.open("byte");
    private final int[] corpus;
    private final int rows;
    private final int sequenceLength;
    private long sequence;

    TestBatches(int rows, int sequenceLength) {
        this.rows = rows;
        this.sequenceLength = sequenceLength;
        this.corpus = tokenizer.encode(TEXT.repeat(4));
    }

    TokenizerIdentity identity() {
        return new TokenizerIdentity(tokenizer.name(), tokenizer.vocabularySize(), tokenizer.fingerprint());
    }

    /** The next good batch: consecutive windows of the corpus, B rows of T+1 ids. */
    TokenBatch next() {
        int[] ids = new int[rows * (sequenceLength + 1)];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = corpus[(int) ((sequence * ids.length + i) % corpus.length)];
        }
        return batch(ids, rows, sequenceLength);
    }

    /** A record the trainer must send to the dead-letter topic: the reason code it must give, and its bytes. */
    record BadRecord(String reason, String description, byte[] bytes) {
        @Override
        public String toString() {
            return reason + " (" + description + ")";
        }
    }

    /** One record of each kind the trainer must dead-letter, as a producer would have written it. */
    static List<BadRecord> badRecords(int rows, int sequenceLength) {
        TestBatches batches = new TestBatches(rows, sequenceLength);
        int[] good = TokenIds.decode(batches.next().getTokens());
        int[] outOfRange = good.clone();
        outOfRange[5] = 257; // V of the byte tokenizer
        byte[] unknownSchema = serialize(batches.next());
        for (int i = 2; i < 10; i++) {
            unknownSchema[i] ^= 0x5A; // the 8-byte schema fingerprint after the 2-byte marker
        }
        return List.of(
                new BadRecord("not-a-token-batch", "not Avro", "{\"text\": \"hello\"}".getBytes(UTF_8)),
                new BadRecord("not-a-token-batch", "unknown schema fingerprint", unknownSchema),
                new BadRecord("empty-batch", "no rows", serialize(batches.builder(ByteBuffer.allocate(0), 0,
                        sequenceLength).build())),
                new BadRecord("tokenizer-mismatch", "gpt2 ids", serialize(batches.builder(
                        TokenIds.encode(good, 0, good.length), rows, sequenceLength)
                        .setTokenizer(new TokenizerInfo("gpt2", 50257, "0123")).build())),
                new BadRecord("sequence-length-mismatch", "T above the context",
                        serialize(batches.batch(good, rows, 300))),
                new BadRecord("sequence-length-mismatch", "T not the expected one",
                        serialize(batches.batch(good, 1, rows * (sequenceLength + 1) - 1))),
                new BadRecord("rows-mismatch", "one row more", serialize(batches.batch(
                        Arrays.copyOf(good, (rows + 1) * (sequenceLength + 1)), rows + 1, sequenceLength))),
                new BadRecord("byte-length-mismatch", "one id missing",
                        serialize(batches.batch(Arrays.copyOf(good, good.length - 1), rows, sequenceLength))),
                new BadRecord("id-out-of-range", "id 257", serialize(batches.batch(outOfRange, rows, sequenceLength))));
    }

    static byte[] serialize(TokenBatch batch) {
        return AvroSerdes.tokenBatch().serializer().serialize(Topics.TOKEN_BATCHES, batch);
    }

    /** A batch of these ids and declared shape, with the byte tokenizer's identity. */
    TokenBatch batch(int[] ids, int declaredRows, int declaredSequenceLength) {
        return builder(TokenIds.encode(ids, 0, ids.length), declaredRows, declaredSequenceLength).build();
    }

    TokenBatch.Builder builder(ByteBuffer tokens, int declaredRows, int declaredSequenceLength) {
        TokenizerIdentity identity = identity();
        return TokenBatch.newBuilder()
                .setDataset("hamlet").setSequence(sequence++)
                .setTokenizer(new TokenizerInfo(identity.name(), identity.vocabularySize(), identity.fingerprint()))
                .setRows(declaredRows).setSequenceLength(declaredSequenceLength)
                .setTokens(tokens).setDocuments(List.of()).setCreatedAt(Instant.now());
    }

    /**
     * A small, fast configuration writing under {@code dir}, plus {@code overrides}; the backend is {@code cpu}
     * unless the system property {@code streamtrain.test.backend} names another (the GPU check runs these tests
     * with {@code cuda}).
     */
    static Map<String, Object> config(java.nio.file.Path dir, int rows, int sequenceLength, Object... overrides) {
        Map<String, Object> properties = new HashMap<>();
        properties.put(TrainerConfig.BOOTSTRAP_SERVERS, "localhost:9092");
        properties.put(TrainerConfig.APPLICATION_ID, "trainer-test");
        properties.put(TrainerConfig.MODEL, "tiny");
        properties.put(TrainerConfig.BACKEND, BACKEND);
        properties.put(TrainerConfig.CPU_THREADS, 2);
        properties.put(TrainerConfig.TOKENIZER, "byte");
        properties.put(TrainerConfig.BATCH_ROWS, rows);
        properties.put(TrainerConfig.SEQUENCE_LENGTH, sequenceLength);
        properties.put(TrainerConfig.RUN_ID, "test-run");
        properties.put(TrainerConfig.RUN_DIR, dir.toString());
        properties.put(TrainerConfig.LEARNING_RATE, 1e-3);
        properties.put(TrainerConfig.LEARNING_RATE_WARMUP_STEPS, 2);
        properties.put(TrainerConfig.CHECKPOINT_EVERY_STEPS, 0);
        properties.put(TrainerConfig.CHECKPOINT_EVERY_SECONDS, 0);
        properties.put(TrainerConfig.SAMPLE_MAX_NEW_TOKENS, 8);
        for (int i = 0; i < overrides.length; i += 2) {
            properties.put((String) overrides[i], overrides[i + 1]);
        }
        return properties;
    }
}
