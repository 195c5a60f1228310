package io.streamtrain.producer;

import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.DocumentRef;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.TokenIds;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.tokenizer.Tokenizers;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static io.streamtrain.producer.TestFiles.gzip;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The producer against a real in-process Kafka broker, read back with a consumer and the Avro serdes. */
class DocumentProducerKafkaTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    @RegisterExtension
    static final TestKafka kafka = TestKafka.perClass();
    private static final Tokenizer BYTES = Tokenizers.open("byte");

    @TempDir
    Path directory;

    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8);

    private ProducerSettings.Builder settings(String topic, String dataset, String... inputs) {
        return ProducerSettings.builder()
                .bootstrapServers(kafka.bootstrapServers())
                .topic(topic)
                .dataset(dataset)
                .tokenizer("byte")
                .batchRows(2)
                .sequenceLength(16)
                .threads(2)
                .progress("log")
                .inputs(List.of(inputs));
    }

    private List<TokenBatch> read(String topic, long count) {
        return kafka.readUntil(topic, AvroSerdes.tokenBatch().deserializer(), records -> records.size() >= count,
                TIMEOUT).stream().map(ConsumerRecord::value).toList();
    }

    /** The token stream the batches hold: row 0's first token, then every row's T targets. */
    private static List<Integer> stream(List<TokenBatch> batches) {
        List<Integer> stream = new ArrayList<>();
        for (TokenBatch batch : batches) {
            int[] ids = TokenIds.decode(batch.getTokens());
            int stride = batch.getSequenceLength() + 1;
            for (int b = 0; b < batch.getRows(); b++) {
                for (int t = stream.isEmpty() ? 0 : 1; t < stride; t++) {
                    stream.add(ids[b * stride + t]);
                }
            }
        }
        return stream;
    }

    /** End-of-text, then the document's ids, for each document. */
    private static List<Integer> expectedStream(String... documents) {
        List<Integer> stream = new ArrayList<>();
        for (String document : documents) {
            stream.add(BYTES.endOfText());
            for (int id : BYTES.encode(document)) {
                stream.add(id);
            }
        }
        return stream;
    }

    @Test
    void shouldPublishACorpusAsTokenBatchesThatDecodeToItsDocuments() throws Exception {
        String first = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n";
        String second = "The slings and arrows of outrageous fortune,";
        String third = "Or to take arms against a sea of troubles";
        String fourth = "And by opposing end them. To die—to sleep,\nNo more;";
        Files.writeString(directory.resolve("1-hamlet.txt"), first);
        Files.writeString(directory.resolve("2-lines.jsonl"), "{\"text\": \"" + second + "\", \"id\": \"slings\", \"lang\": \"en\"}\n"
                + "{\"text\": \"" + third + "\"\n" // invalid JSON: skipped, counted
                + "{\"text\": \"" + third + "\"}\n");
        Files.write(directory.resolve("3-more.txt.gz"), gzip(fourth));
        kafka.createTopic("corpus-batches", 3);

        ProducerSummary summary = DocumentProducer.run(settings("corpus-batches", "hamlet", directory.toString())
                .spread(false).build(), out);

        List<Integer> expected = expectedStream(first, second, third, fourth);
        int perBatch = 2 * 16;
        long batches = (expected.size() - 1) / perBatch;
        assertEquals(4, summary.documents());
        assertEquals(expected.size(), summary.tokens());
        assertEquals(batches, summary.batches());
        assertEquals(expected.size() - 1 - batches * perBatch, summary.droppedTailTokens());
        assertEquals(1, summary.badInputs().get(BadInputKind.INVALID_JSON));
        assertEquals(directory.resolve("2-lines.jsonl") + ":2", summary.badInputExamples().get(0).location());
        assertTrue(output.toString(StandardCharsets.UTF_8).contains("skipped " + directory.resolve("2-lines.jsonl")
                + ":2: invalid JSON"), output.toString(StandardCharsets.UTF_8));

        List<ConsumerRecord<String, TokenBatch>> records = kafka.readUntil("corpus-batches",
                AvroSerdes.tokenBatch().deserializer(), r -> r.size() >= batches, TIMEOUT);
        assertEquals(batches, records.size());
        for (int i = 0; i < records.size(); i++) {
            ConsumerRecord<String, TokenBatch> record = records.get(i);
            TokenBatch batch = record.value();
            assertEquals("hamlet", record.key());
            assertEquals(records.get(0).partition(), record.partition(), "one dataset, one partition");
            assertEquals(i, batch.getSequence(), "in order");
            assertEquals("hamlet", batch.getDataset());
            assertEquals("byte", batch.getTokenizer().getName());
            assertEquals(BYTES.vocabularySize(), batch.getTokenizer().getVocabularySize());
            assertEquals(BYTES.fingerprint(), batch.getTokenizer().getFingerprint());
            assertEquals(2, batch.getRows());
            assertEquals(16, batch.getSequenceLength());
            assertEquals(2 * 17, TokenIds.count(batch.getTokens()));
            assertNotNull(batch.getCreatedAt());
        }
        List<TokenBatch> values = records.stream().map(ConsumerRecord::value).toList();
        assertEquals(expected.subList(0, (int) batches * perBatch + 1), stream(values));
        assertEquals(List.of(new DocumentRef(directory.resolve("1-hamlet.txt").toString(),
                        directory.resolve("1-hamlet.txt").toString(), Map.of())), values.get(0).getDocuments());
        DocumentRef slings = values.stream().flatMap(b -> b.getDocuments().stream())
                .filter(d -> d.getId().equals("slings")).findFirst().orElseThrow();
        assertEquals("en", slings.getMetadata().get("lang"), "JSON Lines fields other than text travel as metadata");
        List<String> covered = values.stream().flatMap(b -> b.getDocuments().stream()).map(DocumentRef::getId)
                .distinct().toList();
        assertEquals(List.of(directory.resolve("1-hamlet.txt").toString(), "slings",
                directory.resolve("2-lines.jsonl") + ":3"), covered.subList(0, 3));
        String text = BYTES.decode(stream(values).stream().mapToInt(Integer::intValue).toArray());
        assertTrue(text.startsWith(Tokenizer.END_OF_TEXT + first + Tokenizer.END_OF_TEXT + second), text);
    }

    @Test
    void shouldKeepEachDatasetInOnePartitionInOrderWhenTwoDatasetsShareATopicUnspread() throws Exception {
        StringBuilder jsonl = new StringBuilder();
        List<String> documents = new ArrayList<>();
        for (int d = 0; d < 60; d++) {
            String document = "document " + d + " of the beta dataset, read from standard input";
            documents.add(document);
            jsonl.append("{\"text\": \"").append(document).append("\"}\n");
        }
        Path alphaFile = Files.writeString(directory.resolve("alpha.txt"), "alpha ".repeat(400));
        kafka.createTopic("shared-batches", 4);
        DocumentProducer alpha = new DocumentProducer(settings("shared-batches", "alpha", alphaFile.toString())
                .spread(false).build(), out);
        DocumentProducer beta = new DocumentProducer(settings("shared-batches", "beta", "-").spread(false).build(), out,
                new ByteArrayInputStream(jsonl.toString().getBytes(StandardCharsets.UTF_8)));

        ExecutorService both = Executors.newFixedThreadPool(2);
        Future<ProducerSummary> alphaRun = both.submit(alpha);
        Future<ProducerSummary> betaRun = both.submit(beta);
        ProducerSummary alphaSummary = alphaRun.get(60, TimeUnit.SECONDS);
        ProducerSummary betaSummary = betaRun.get(60, TimeUnit.SECONDS);
        both.shutdown();

        assertEquals(1, alphaSummary.documents());
        assertEquals(60, betaSummary.documents());
        long total = alphaSummary.batches() + betaSummary.batches();
        List<ConsumerRecord<String, TokenBatch>> records = kafka.readUntil("shared-batches",
                AvroSerdes.tokenBatch().deserializer(), r -> r.size() >= total, TIMEOUT);
        assertEquals(total, records.size());
        for (String dataset : List.of("alpha", "beta")) {
            List<ConsumerRecord<String, TokenBatch>> ofDataset = records.stream()
                    .filter(r -> r.key().equals(dataset)).toList();
            assertEquals(1, ofDataset.stream().map(ConsumerRecord::partition).distinct().count(), dataset);
            assertEquals(java.util.stream.LongStream.range(0, ofDataset.size()).boxed().toList(),
                    ofDataset.stream().map(r -> r.value().getSequence()).toList(), dataset + " in offset order");
        }
        List<TokenBatch> betaBatches = records.stream().filter(r -> r.key().equals("beta"))
                .map(ConsumerRecord::value).toList();
        List<Integer> expected = expectedStream(documents.toArray(String[]::new));
        assertEquals(expected.subList(0, (int) betaSummary.batches() * 32 + 1), stream(betaBatches));
        assertEquals("stdin:1", betaBatches.get(0).getDocuments().get(0).getId());
        assertEquals("stdin", betaBatches.get(0).getDocuments().get(0).getSource());
    }

    @Test
    void shouldSpreadADatasetOverEveryPartitionEachPartitionOneShardInSequenceOrder() throws Exception {
        String corpus = randomText(3, 2000);
        Path file = Files.writeString(directory.resolve("spread.txt"), corpus);
        kafka.createTopic("spread-batches", 4);

        ProducerSummary first = DocumentProducer.run(settings("spread-batches", "books", file.toString()).build(), out);
        ProducerSummary second = DocumentProducer.run(settings("spread-batches", "books", file.toString())
                .firstSequence(first.nextSequence()).build(), out); // a continuation keeps the rule

        long total = first.batches() + second.batches();
        assertTrue(total >= 100, "enough batches for every partition: " + total);
        List<ConsumerRecord<String, TokenBatch>> records = kafka.readUntil("spread-batches",
                AvroSerdes.tokenBatch().deserializer(), r -> r.size() >= total, TIMEOUT);
        assertEquals(total, records.size());
        for (int p = 0; p < 4; p++) {
            int partition = p;
            List<ConsumerRecord<String, TokenBatch>> shard = records.stream()
                    .filter(r -> r.partition() == partition).sorted(java.util.Comparator.comparingLong(
                            ConsumerRecord::offset)).toList();
            assertEquals(java.util.stream.LongStream.range(0, total).filter(k -> k % 4 == partition).boxed().toList(),
                    shard.stream().map(r -> r.value().getSequence()).toList(),
                    "partition " + p + ": batches p, p + 4, ... in offset order");
            for (ConsumerRecord<String, TokenBatch> record : shard) {
                assertEquals("books@" + p, record.key());
                assertEquals("books@" + p, record.value().getDataset());
            }
        }
        List<TokenBatch> inSequence = records.stream().map(ConsumerRecord::value)
                .sorted(java.util.Comparator.comparingLong(TokenBatch::getSequence)).toList();
        assertEquals(expectedStream(corpus).subList(0, (int) first.batches() * 32 + 1),
                stream(inSequence.subList(0, (int) first.batches())), "the shards together are the dataset");
        assertTrue(output.toString(StandardCharsets.UTF_8).contains("spread over 4 partitions as shards books@0..3"),
                output.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldIngestNewFilesWhileFollowingADirectoryUntilStopped() throws Exception {
        Path inbox = Files.createDirectory(directory.resolve("inbox"));
        kafka.createTopic("follow-batches", 1);
        String first = "x".repeat(40);  // EOT + 40 tokens: one batch of 33, a tail of 8 carried over
        String second = "y".repeat(30); // EOT + 30 more: a second batch, a tail of 7
        DocumentProducer producer = new DocumentProducer(settings("follow-batches", "live", inbox.toString())
                .follow(true).followPollInterval(Duration.ofMillis(50)).build(), out);
        ExecutorService thread = Executors.newSingleThreadExecutor();
        Future<ProducerSummary> run = thread.submit(producer);

        Files.writeString(inbox.resolve(".first.txt.tmp"), first);
        Files.move(inbox.resolve(".first.txt.tmp"), inbox.resolve("first.txt"));
        read("follow-batches", 1);
        Files.writeString(inbox.resolve("second.txt"), second);
        List<TokenBatch> batches = read("follow-batches", 2);
        producer.stop();
        ProducerSummary summary = run.get(30, TimeUnit.SECONDS);
        thread.shutdown();

        assertEquals(2, summary.documents());
        assertEquals(2, summary.batches());
        assertEquals(7, summary.droppedTailTokens());
        assertEquals(expectedStream(first, second).subList(0, 65), stream(batches),
                "the tail of the first file starts the batch completed by the second");
        assertTrue(output.toString(StandardCharsets.UTF_8).contains("new file " + inbox.resolve("second.txt")));
    }

    @Test
    void shouldIngestWhatIsAppendedToAFileAfterAPauseWhileFollowing() throws Exception {
        Path inbox = Files.createDirectory(directory.resolve("growing"));
        kafka.createTopic("follow-growing", 1);
        List<String> documents = new ArrayList<>();
        StringBuilder firstPart = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            documents.add("document " + i + " of the growing file!!");
            firstPart.append("{\"text\": \"").append(documents.get(i)).append("\"}\n");
        }
        documents.add("the last document, longer than those");
        firstPart.append("{\"text\": \"the last docu"); // the writer pauses in the middle of a line
        DocumentProducer producer = new DocumentProducer(settings("follow-growing", "growing", inbox.toString())
                .follow(true).followPollInterval(Duration.ofMillis(50)).followSettle(Duration.ofMillis(300)).build(),
                out);
        ExecutorService thread = Executors.newSingleThreadExecutor();
        Future<ProducerSummary> run = thread.submit(producer);

        Path file = inbox.resolve("crawl.jsonl");
        Files.writeString(file, firstPart);
        read("follow-growing", 4);          // 4 x 33 tokens: 4 batches of 32, the tail waits
        Thread.sleep(500);                  // the pause: longer than the settle time
        Files.writeString(file, "ment, longer than those\"}\n", java.nio.file.StandardOpenOption.APPEND);
        List<TokenBatch> batches = read("follow-growing", 5);
        producer.stop();
        ProducerSummary summary = run.get(30, TimeUnit.SECONDS);
        thread.shutdown();

        String transcript = output.toString(StandardCharsets.UTF_8);
        assertEquals(5, summary.documents(), transcript);
        assertEquals(0, summary.badInputTotal(), transcript);
        assertEquals(expectedStream(documents.toArray(String[]::new)).subList(0, 5 * 32 + 1), stream(batches));
        assertTrue(transcript.contains("appended to " + file + ": reading on from byte " + (firstPart.lastIndexOf("\n") + 1)),
                transcript);
    }

    @Test
    void shouldFailWhenNoDocumentOfTheInputIsGood() throws IOException {
        Path bad = Files.writeString(directory.resolve("bad.jsonl"), "{\"title\": \"no text\"}\nnot json\n");

        ProducerException fatal = assertThrows(ProducerException.class,
                () -> DocumentProducer.run(settings("bad-batches", "bad", bad.toString()).build(), out));

        assertTrue(fatal.getMessage().startsWith("no documents: every input was bad (2 bad inputs"), fatal.getMessage());
    }

    /** A text whose every 24-character substring is unique, for disjointness checks. */
    private static String randomText(long seed, int length) {
        java.util.Random random = new java.util.Random(seed);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < length; i++) {
            text.append((char) ('a' + random.nextInt(26)));
        }
        return text.toString();
    }

    private static String text(List<TokenBatch> batches) {
        return BYTES.decode(stream(batches).stream().mapToInt(Integer::intValue).toArray());
    }

    @Test
    void shouldHoldOutADeterministicDisjointPartOfOneLargeDocument() throws Exception {
        String document = randomText(11, 40_000);
        Path file = Files.writeString(directory.resolve("large.txt"), document);
        kafka.createTopic("holdout-train", 1);
        kafka.createTopic("holdout-eval", 1);
        kafka.createTopic("holdout-eval-again", 1);
        kafka.createTopic("holdout-train-again", 1);

        ProducerSummary summary = DocumentProducer.run(settings("holdout-train", "large", file.toString())
                .holdout(0.25).holdoutBlockTokens(1000).evalTopic("holdout-eval").epochs(2).build(), out);
        ProducerSummary again = DocumentProducer.run(settings("holdout-train-again", "large", file.toString())
                .holdout(0.25).holdoutBlockTokens(1000).evalTopic("holdout-eval-again").epochs(2).build(), out);

        assertEquals(10_000, summary.heldOutTokens(), "10 of the 40 blocks, sent once although there are 2 epochs");
        assertEquals((10_000 - 1) / 32, summary.evalBatches());
        String train = text(read("holdout-train", summary.batches()));
        String eval = text(read("holdout-eval", summary.evalBatches()));
        assertEquals(eval, text(read("holdout-eval-again", again.evalBatches())), "the same split on every run");
        assertEquals(train, text(read("holdout-train-again", again.batches())));
        assertEquals(30_000 * 2, train.replace(Tokenizer.END_OF_TEXT, "").length() + summary.droppedTailTokens());
        int heldOutBlocks = 0;
        for (int block = 0; block < 40; block++) { // byte tokens: block j is characters [1000 j, 1000 (j + 1))
            String text = document.substring(1000 * block, 1000 * block + 1000);
            for (int i = 0; i + 24 <= text.length(); i += 7) {
                String piece = text.substring(i, i + 24);
                assertTrue(!(eval.contains(piece) && train.contains(piece)), "block " + block + " on both topics");
            }
            heldOutBlocks += eval.contains(text) ? 1 : 0;
        }
        assertTrue(heldOutBlocks >= 9, "the held-out blocks are whole blocks of the document: " + heldOutBlocks);
        assertTrue(output.toString(StandardCharsets.UTF_8).contains("held out 10,000 tokens for evaluation"),
                output.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldSendEachOfManySmallDocumentsWholeToOneTopic() throws Exception {
        StringBuilder jsonl = new StringBuilder();
        for (int d = 0; d < 300; d++) {
            jsonl.append("{\"text\": \"<doc ").append(d).append("> ").append(randomText(d, 30)).append("\"}\n");
        }
        Path file = Files.writeString(directory.resolve("small.jsonl"), jsonl);
        kafka.createTopic("small-train", 1);
        kafka.createTopic("small-eval", 1);

        ProducerSummary summary = DocumentProducer.run(settings("small-train", "small", file.toString())
                .holdout(0.3).evalTopic("small-eval").build(), out);

        String train = text(read("small-train", summary.batches()));
        String eval = text(read("small-eval", summary.evalBatches()));
        int inTrain = 0;
        int inEval = 0;
        for (int d = 0; d < 290; d++) { // the last ones may be in a dropped tail
            String marker = "<doc " + d + "> " + randomText(d, 30);
            boolean trained = train.contains(marker);
            boolean evaluated = eval.contains(marker);
            assertTrue(trained != evaluated, "document " + d + " whole on exactly one topic");
            inTrain += trained ? 1 : 0;
            inEval += evaluated ? 1 : 0;
        }
        assertEquals(0.3, inEval / 290.0, 0.1, inEval + " held out, " + inTrain + " trained");
    }

    @Test
    void shouldSendAnExplicitEvaluationCorpusToTheEvaluationTopic() throws Exception {
        Path file = Files.writeString(directory.resolve("eval.txt"), randomText(5, 200));
        kafka.createTopic("explicit-eval", 1);

        ProducerSummary summary = DocumentProducer.run(settings("explicit-train", "eval", file.toString())
                .split("eval").evalTopic("explicit-eval").build(), out);

        assertEquals("explicit-eval", summary.topic());
        assertEquals(6, summary.batches());
        assertTrue(text(read("explicit-eval", 6)).startsWith(Tokenizer.END_OF_TEXT + randomText(5, 190)));
    }

    @Test
    void shouldPresentOtherWindowsInAnotherOrderInEachShuffledEpoch() throws Exception {
        String document = randomText(21, 1600);
        Path file = Files.writeString(directory.resolve("epochs.txt"), document);
        kafka.createTopic("shuffled", 1);

        ProducerSummary summary = DocumentProducer.run(settings("shuffled", "shuffled", file.toString())
                .epochs(3).shuffleRows(64).build(), out);

        List<TokenBatch> batches = read("shuffled", summary.batches());
        List<String> rows = new ArrayList<>();
        for (TokenBatch batch : batches) {
            int[] ids = TokenIds.decode(batch.getTokens());
            for (int b = 0; b < batch.getRows(); b++) {
                rows.add(BYTES.decode(ids, b * 17, 17));
            }
        }
        assertEquals(summary.batches() * 2, rows.size());
        assertTrue(summary.batches() * 2 >= 3 * 1600 / 16 - 3, "the three epochs are published: " + rows.size());
        String doubled = Tokenizer.END_OF_TEXT + document + Tokenizer.END_OF_TEXT + document;
        int inOrder = 0;
        int acrossAnEpochStart = 0;
        for (int r = 0; r < rows.size(); r++) {
            acrossAnEpochStart += doubled.contains(rows.get(r)) ? 0 : 1;
            if (r > 0 && doubled.indexOf(rows.get(r)) == doubled.indexOf(rows.get(r - 1)) + 16) {
                inOrder++;
            }
        }
        assertTrue(acrossAnEpochStart <= 2, "every row is a window of the corpus, but for the one row that spans the"
                + " skipped offset of each later epoch: " + acrossAnEpochStart);
        assertTrue(inOrder < rows.size() / 4, "rows do not follow each other in stream order: " + inOrder);
        assertTrue(rows.stream().distinct().count() > 1600 / 16 + 10,
                "later epochs start at other offsets: other windows than the first epoch's");
    }
}
