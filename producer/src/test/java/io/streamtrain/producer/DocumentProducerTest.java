package io.streamtrain.producer;

import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fatal errors, found before anything is published; no broker needed. */
class DocumentProducerTest {
    @TempDir
    Path directory;

    private final ByteArrayOutputStream output = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(output, true, StandardCharsets.UTF_8);

    /** A loopback port nothing listens on: bound, then closed. */
    private static int closedPort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private ProducerSettings.Builder settings(List<String> inputs) throws IOException {
        return ProducerSettings.builder()
                .bootstrapServers("127.0.0.1:" + closedPort())
                .brokerTimeout(Duration.ofMillis(1500))
                .progress("log")
                .inputs(inputs);
    }

    private ProducerException fatal(ProducerSettings settings) {
        return assertThrows(ProducerException.class, () -> DocumentProducer.run(settings, out));
    }

    @Test
    void shouldFailSayingWhatToPassWhenThereIsNoInputAtAll() throws IOException {
        ProducerException none = fatal(settings(List.of()).build());
        assertEquals("no input: pass files, directories or - for standard input (--input PATH...)", none.getMessage());

        Path empty = Files.createDirectory(directory.resolve("empty"));
        Path missing = directory.resolve("missing.txt");
        ProducerException nothingFound = fatal(settings(List.of(empty.toString(), missing.toString())).build());
        assertTrue(nothingFound.getMessage().startsWith("no input: [" + empty + ", " + missing + "] holds no readable"),
                nothingFound.getMessage());
        assertTrue(output.toString(StandardCharsets.UTF_8).contains("skipped " + missing
                + ": unreadable file: no such file or directory"), output.toString(StandardCharsets.UTF_8));
    }

    @Test
    void shouldFailWithinTheTimeoutSayingHowToStartABrokerWhenKafkaIsUnreachable() throws IOException {
        Path file = Files.writeString(directory.resolve("doc.txt"), "some text");
        ProducerSettings settings = settings(List.of(file.toString())).build();

        long start = System.nanoTime();
        ProducerException unreachable = fatal(settings);
        long millis = (System.nanoTime() - start) / 1_000_000;

        assertTrue(unreachable.getMessage().startsWith("cannot reach Kafka at " + settings.bootstrapServers()
                + " within 1500 ms"), unreachable.getMessage());
        assertTrue(unreachable.getMessage().contains("start a broker"), unreachable.getMessage());
        assertTrue(millis < 15_000, "gave up after " + millis + " ms");
    }

    @Test
    void shouldFailNamingTheSpecWhenTheTokenizerIsUnknown() throws IOException {
        Path file = Files.writeString(directory.resolve("doc.txt"), "some text");
        ProducerException unknown = fatal(settings(List.of(file.toString())).tokenizer("no-such-tokenizer").build());
        assertTrue(unknown.getMessage().startsWith("cannot open tokenizer 'no-such-tokenizer'"), unknown.getMessage());
    }

    @Test
    void shouldFailWhenFollowHasNoDirectoryToWatch() throws IOException {
        Path file = Files.writeString(directory.resolve("doc.txt"), "some text");
        ProducerException noDirectory = fatal(settings(List.of(file.toString())).follow(true).build());
        assertTrue(noDirectory.getMessage().startsWith("follow watches directories"), noDirectory.getMessage());
    }

    @Test
    void shouldRejectInvalidSettingsNamingTheKey() {
        ConfigException rows = assertThrows(ConfigException.class,
                () -> new ProducerSettings(Map.of(ProducerSettings.BATCH_ROWS, 0)));
        assertTrue(rows.getMessage().contains(ProducerSettings.BATCH_ROWS), rows.getMessage());
        ConfigException format = assertThrows(ConfigException.class,
                () -> ProducerSettings.builder().inputFormat("xml").build());
        assertTrue(format.getMessage().contains(ProducerSettings.INPUT_FORMAT), format.getMessage());
        assertThrows(ConfigException.class, () -> ProducerSettings.builder().follow(true).epochs(2).build());
        assertThrows(ConfigException.class, () -> ProducerSettings.builder().inputs(List.of("-")).epochs(2).build());
    }

    @Test
    void shouldDefaultToTheTokenBatchesTopicAndPassKafkaSettingsThrough() {
        ProducerSettings settings = ProducerSettings.builder().kafka("compression.type", "lz4").build();
        assertEquals(io.streamtrain.schemas.Topics.TOKEN_BATCHES, settings.topic());
        assertEquals(Map.of("compression.type", "lz4"), settings.kafkaOverrides());
        assertEquals(InputFormat.AUTO, settings.inputFormat());
        assertEquals(ProgressMode.AUTO, settings.progress());
    }
}
