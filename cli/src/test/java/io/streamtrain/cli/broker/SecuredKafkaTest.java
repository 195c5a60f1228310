package io.streamtrain.cli.broker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.broker.EmbeddedKafkaBroker;
import io.streamtrain.broker.testing.TestKafka;
import io.streamtrain.cli.Main;
import io.streamtrain.monitor.Monitor;
import io.streamtrain.monitor.MonitorConfig;
import io.streamtrain.monitor.RunStore;
import io.streamtrain.schemas.KafkaClientSettings;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every command's Kafka clients against a secured cluster: one in-process broker with a SASL/PLAIN listener and a TLS
 * listener (its certificate made here with the JDK's keytool), reached with {@code --command-config FILE}. A wrong
 * password or an untrusted certificate ends the command with a clear error within seconds.
 */
class SecuredKafkaTest {
    private static final String PASSWORD = "store-secret";
    private static final Duration BOUNDED = Duration.ofSeconds(30);

    @TempDir
    static Path dir;
    private static TestKafka broker;
    private static String sasl;
    private static String tls;
    private static Path saslConfig;
    private static Path wrongPassword;
    private static Path tlsConfig;
    private static Path untrusted;
    private static Path corpus;

    @BeforeAll
    static void startSecuredBroker() throws Exception {
        // One keytool run: the broker's key and self-signed certificate. The clients trust that certificate by using
        // the same PKCS12 file as their trust store (Java trusts the certificate of a key entry too).
        Path keystore = dir.resolve("broker.p12");
        keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", keystore.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD);
        Path truststore = keystore;

        int saslPort = EmbeddedKafkaBroker.freePort();
        int tlsPort = EmbeddedKafkaBroker.freePort();
        sasl = "127.0.0.1:" + saslPort;
        tls = "127.0.0.1:" + tlsPort;
        broker = TestKafka.start(properties -> {
            String more = ",SASL_PLAINTEXT://" + sasl + ",SSL://" + tls;
            properties.put("listeners", properties.get("listeners") + more);
            properties.put("advertised.listeners", properties.get("advertised.listeners") + more);
            properties.put("listener.security.protocol.map",
                    properties.get("listener.security.protocol.map") + ",SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL");
            properties.put("sasl.enabled.mechanisms", "PLAIN");
            properties.put("listener.name.sasl_plaintext.plain.sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";");
            properties.put("listener.name.ssl.ssl.keystore.type", "PKCS12");
            properties.put("listener.name.ssl.ssl.keystore.location", keystore.toString());
            properties.put("listener.name.ssl.ssl.keystore.password", PASSWORD);
            properties.put("listener.name.ssl.ssl.key.password", PASSWORD);
        });
        saslConfig = clientProperties("sasl.properties", "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
                "sasl.jaas.config=" + jaas("alice-secret"));
        wrongPassword = clientProperties("wrong.properties", "security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN",
                "sasl.jaas.config=" + jaas("not-the-password"));
        tlsConfig = clientProperties("tls.properties", "security.protocol=SSL", "ssl.truststore.type=PKCS12",
                "ssl.truststore.location=" + truststore, "ssl.truststore.password=" + PASSWORD);
        untrusted = clientProperties("untrusted.properties", "security.protocol=SSL");
        corpus = dir.resolve("corpus.txt");
        Files.writeString(corpus, "A small corpus for a secured cluster, long enough for a few batches. ".repeat(40));
    }

    @AfterAll
    static void stopBroker() {
        if (broker != null) {
            broker.close();
        }
    }

    @Test
    void everyCommandReachesTheClusterOverSaslAndTlsWithACommandConfig() throws Exception {
        String topic = "secured.batches";
        Path runDir = dir.resolve("runs/secured");
        String[] shape = {"--model", "tiny", "--batch", "2", "--seq-len", "16"};
        run(0, concat(new String[] {"produce", "--input", corpus.toString(), "--topic", topic, "--bootstrap-servers", sasl,
                "--command-config", saslConfig.toString(), "--progress", "none"}, shape));
        // The trainer's admin and Kafka Streams (with its dead-letter producer) over TLS.
        run(0, concat(new String[] {"train", "--topic", topic, "--bootstrap-servers", tls, "--command-config",
                tlsConfig.toString(), "--application-id", "secured", "--run-dir", runDir.toString(), "--backend", "cpu",
                "--max-steps", "3"}, shape));
        try (Monitor monitor = Monitor.start(new MonitorConfig(Map.of(MonitorConfig.BOOTSTRAP_SERVERS, sasl,
                KafkaClientSettings.COMMAND_CONFIG, saslConfig.toString(), MonitorConfig.HTTP_PORT, 0,
                MonitorConfig.TRAINER_APPLICATION_ID, "secured")), System.out)) {
            long deadline = System.nanoTime() + BOUNDED.toNanos();
            while (!(stepsSeen(monitor) >= 3 && monitor.store().consumerLag().map(RunStore.ConsumerLag::measured).orElse(false))) {
                assertTrue(System.nanoTime() < deadline, "the monitor did not read 3 steps and the lag over SASL: "
                        + stepsSeen(monitor) + " steps, lag " + monitor.store().consumerLag() + ", " + monitor.failure());
                Thread.sleep(100);
            }
        }
        String replay = run(0, "replay", "--application-id", "secured", "--topic", topic, "--run-dir", runDir.toString(),
                "--to-earliest", "--dry-run", "--bootstrap-servers", sasl, "--command-config", saslConfig.toString());
        assertTrue(replay.contains(topic), replay);
        run(0, concat(new String[] {"demo", "--bootstrap-servers", sasl, "--command-config", saslConfig.toString(),
                "--max-steps", "2", "--no-dashboard", "--backend", "cpu", "--run-dir", dir.resolve("runs/demo").toString()},
                shape));
    }

    @Test
    void aWrongPasswordEndsEveryCommandWithAClearErrorWithinSeconds() throws Exception {
        String[] kafka = {"--bootstrap-servers", sasl, "--command-config", wrongPassword.toString()};
        List<String[]> commands = List.of(
                concat(new String[] {"produce", "--input", corpus.toString(), "--progress", "none"}, kafka),
                concat(new String[] {"train", "--backend", "cpu", "--run-dir", dir.resolve("runs/wrong").toString()}, kafka),
                concat(new String[] {"monitor", "--port", "0"}, kafka),
                concat(new String[] {"replay", "--application-id", "secured", "--to-earliest", "--dry-run"}, kafka));
        for (String[] command : commands) {
            String err = run(1, command);
            assertTrue(err.contains("Kafka at " + sasl + " rejected this client's credentials")
                    && err.contains("sasl.jaas.config"), command[0] + ": " + err);
        }
    }

    @Test
    void anUntrustedBrokerCertificateIsAClearError() {
        String err = run(1, "produce", "--input", corpus.toString(), "--progress", "none", "--bootstrap-servers", tls,
                "--command-config", untrusted.toString());
        assertTrue(err.contains("the TLS handshake with Kafka at " + tls + " failed") && err.contains("ssl.truststore"), err);
    }

    /** Runs a command in this JVM within {@link #BOUNDED}; returns standard output on success, else standard error. */
    private static String run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        long start = System.nanoTime();
        int exit = Main.execute(new PrintWriter(out, true), new PrintWriter(err, true), args);
        long seconds = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start);
        String transcript = String.join(" ", args) + "\nexit " + exit + " after " + seconds + " s\n--- out ---\n" + out
                + "\n--- err ---\n" + err;
        assertEquals(expectedExit, exit, transcript);
        if (expectedExit != 0) {
            assertTrue(seconds < BOUNDED.toSeconds(), "took too long: " + transcript);
        }
        return expectedExit == 0 ? out.toString() : err.toString();
    }

    private static long stepsSeen(Monitor monitor) {
        return monitor.store().allMetrics().size();
    }

    private static String jaas(String password) {
        return "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\""
                + password + "\";";
    }

    private static Path clientProperties(String name, String... lines) throws IOException {
        return Files.writeString(dir.resolve(name), String.join("\n", lines) + "\n");
    }

    private static void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertTrue(process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0, "keytool failed: " + output);
    }

    private static String[] concat(String[] first, String... second) {
        String[] all = new String[first.length + second.length];
        System.arraycopy(first, 0, all, 0, first.length);
        System.arraycopy(second, 0, all, first.length, second.length);
        return all;
    }
}
