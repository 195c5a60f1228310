package io.streamtrain.broker;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A real single-node Kafka broker in this JVM: Apache Kafka's own {@link KafkaRaftServer} in KRaft combined mode
 * (broker and controller in one node), listening on the loopback interface only.
 *
 * <p>The log directory is formatted on first use, as {@code kafka-storage.sh format} would. A temporary data
 * directory is deleted on {@link #close()}; a persistent one (the {@code broker} command's {@code --data-dir})
 * keeps topics and offsets across restarts. Internal topics have one partition and replication factor 1, so
 * that the first consumer group forms in milliseconds rather than after creating fifty partitions.
 *
 * <p>Used by {@code streamtrain demo} and {@code streamtrain broker}, and by every Kafka test through the test kit
 * {@code io.streamtrain.broker.testing.TestKafka} of this module's test-jar. More listeners (SASL, TLS) or other
 * server settings: {@link #start(Path, int, boolean, Consumer)}.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {

    private static final int NODE_ID = 1;
    private static final String LOOPBACK = "127.0.0.1";
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

    private final Map<String, Object> properties;
    private final Path dataDirectory;
    private final boolean deleteOnClose;
    private final String bootstrapServers;
    private KafkaRaftServer server;
    private boolean running = true;
    private boolean closed;

    private EmbeddedKafkaBroker(KafkaRaftServer server, Map<String, Object> properties, Path dataDirectory,
                                boolean deleteOnClose, String bootstrapServers) {
        this.server = server;
        this.properties = properties;
        this.dataDirectory = dataDirectory;
        this.deleteOnClose = deleteOnClose;
        this.bootstrapServers = bootstrapServers;
    }

    /** Starts a broker on a free loopback port with its data in a new temporary directory, deleted on close. */
    public static EmbeddedKafkaBroker startTemporary() {
        return startTemporary(properties -> { });
    }

    /** {@link #startTemporary()} with the server properties changed by {@code customize} first. */
    public static EmbeddedKafkaBroker startTemporary(Consumer<Map<String, Object>> customize) {
        Path directory;
        try {
            directory = Files.createTempDirectory("streamtrain-kafka-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for the embedded Kafka broker in "
                    + System.getProperty("java.io.tmpdir") + ": free some disk space or set -Djava.io.tmpdir", e);
        }
        return start(directory, 0, true, customize);
    }

    /**
     * Starts a broker whose data lives in {@code dataDirectory} (created and formatted when new, reused when it
     * already holds a formatted log directory).
     *
     * @param port          the client port on 127.0.0.1, or 0 for a free one
     * @param deleteOnClose whether {@link #close()} deletes the directory
     */
    public static EmbeddedKafkaBroker start(Path dataDirectory, int port, boolean deleteOnClose) {
        return start(dataDirectory, port, deleteOnClose, properties -> { });
    }

    /**
     * {@link #start(Path, int, boolean)} with the server properties changed by {@code customize} first: more
     * listeners (SASL, TLS) beside the PLAINTEXT one that {@link #bootstrapServers()} names, or other settings.
     * The map holds the keys of a single-node {@code server.properties} (see {@code serverProperties} in the source).
     */
    public static EmbeddedKafkaBroker start(Path dataDirectory, int port, boolean deleteOnClose,
                                            Consumer<Map<String, Object>> customize) {
        Path logDirectory = dataDirectory.resolve("kraft-combined-logs");
        int brokerPort = port == 0 ? freePort() : port;
        int controllerPort = freePort();
        Map<String, Object> properties = serverProperties(logDirectory, brokerPort, controllerPort);
        customize.accept(properties);
        KafkaRaftServer server;
        try {
            Files.createDirectories(logDirectory);
            if (!Files.exists(logDirectory.resolve("meta.properties"))) {
                format(logDirectory);
            }
            server = startServer(properties);
        } catch (Exception e) {
            if (deleteOnClose) {
                deleteQuietly(dataDirectory);
            }
            throw new IllegalStateException("the embedded Kafka broker did not start on " + LOOPBACK + ":" + brokerPort
                    + " with data in " + dataDirectory + ": " + rootMessage(e)
                    + (port != 0 ? " (is the port taken? pick another with --port, or --port 0 for a free one)" : ""), e);
        }
        EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(server, properties, dataDirectory, deleteOnClose,
                LOOPBACK + ":" + brokerPort);
        try {
            broker.awaitReady();
        } catch (RuntimeException e) {
            broker.close();
            throw e;
        }
        return broker;
    }

    /** The address clients connect to, {@code 127.0.0.1:<port>}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    public Path dataDirectory() {
        return dataDirectory;
    }

    /** Creates each topic that does not exist yet, with {@code partitions} partitions and replication factor 1. */
    public void createTopics(Collection<String> topics, int partitions) {
        createTopics(bootstrapServers, topics, partitions);
    }

    /** Creates each topic that does not exist yet on any cluster, with replication factor 1. */
    public static void createTopics(String bootstrapServers, Collection<String> topics, int partitions) {
        List<NewTopic> newTopics = new ArrayList<>();
        for (String topic : topics) {
            newTopics.add(new NewTopic(topic, partitions, (short) 1));
        }
        try (Admin admin = Admin.create(adminProperties(bootstrapServers))) {
            List<String> created = new ArrayList<>();
            for (var entry : admin.createTopics(newTopics).values().entrySet()) {
                try {
                    entry.getValue().get(30, TimeUnit.SECONDS);
                    created.add(entry.getKey());
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw new IllegalStateException("cannot create topic " + entry.getKey() + " on "
                                + bootstrapServers + ": " + rootMessage(e), e);
                    }
                }
            }
            awaitLeaders(admin, created, partitions, Duration.ofSeconds(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics " + topics, e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("Kafka at " + bootstrapServers + " did not create topics " + topics
                    + " within 30 s: check that the broker is running and reachable", e);
        }
    }

    /**
     * Waits until the leader of every partition of these just-created topics serves requests. The controller
     * acknowledges a new topic before its broker has taken the partitions' leadership; a producer that starts in
     * between gets NOT_LEADER_OR_FOLLOWER, and an idempotent one could then stall on OUT_OF_ORDER_SEQUENCE_NUMBER
     * (seen in a test that produced right after creating a 4-partition topic). Asking each partition's leader for its
     * end offset is answered only once the broker leads it; the admin client retries until then.
     */
    public static void awaitLeaders(Admin admin, Collection<String> topics, int partitions, Duration timeout)
            throws InterruptedException, java.util.concurrent.TimeoutException {
        Map<TopicPartition, OffsetSpec> ends = new HashMap<>();
        for (String topic : topics) {
            for (int p = 0; p < partitions; p++) {
                ends.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
        }
        if (ends.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                admin.listOffsets(ends).all().get(Math.max(1, (deadline - System.nanoTime()) / 1_000_000),
                        TimeUnit.MILLISECONDS);
                return;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof RetriableException) || System.nanoTime() > deadline) {
                    throw new IllegalStateException("the partitions of " + topics + " have no serving leader: "
                            + rootMessage(e), e);
                }
                Thread.sleep(20);
            }
        }
    }

    /**
     * Stops the broker (clients see it gone), waits {@code down}, and starts it again on the same ports and data,
     * then waits until it is ready: a broker restart as clients of a real cluster see one.
     */
    public synchronized void restart(Duration down) throws InterruptedException {
        stop();
        Thread.sleep(down.toMillis());
        startAgain();
    }

    /** Stops the server, keeping its data and address; {@link #startAgain()} brings it back. */
    public synchronized void stop() {
        if (closed) {
            throw new IllegalStateException("the embedded Kafka broker at " + bootstrapServers + " is closed");
        }
        if (running) {
            running = false;
            server.shutdown();
            server.awaitShutdown();
        }
    }

    /** Starts the server that {@link #stop()} stopped, on the same ports and data, and waits until it is ready. */
    public synchronized void startAgain() {
        if (closed) {
            throw new IllegalStateException("the embedded Kafka broker at " + bootstrapServers + " is closed");
        }
        if (running) {
            return;
        }
        try {
            server = startServer(properties);
        } catch (RuntimeException e) {
            throw new IllegalStateException("the embedded Kafka broker did not start again on " + bootstrapServers
                    + ": " + rootMessage(e), e);
        }
        running = true;
        awaitReady();
    }

    /** Stops the broker and waits for it; deletes a temporary data directory. Safe to call twice. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (running) {
                running = false;
                server.shutdown();
                server.awaitShutdown();
            }
        } finally {
            if (deleteOnClose) {
                deleteQuietly(dataDirectory);
            }
        }
    }

    private static KafkaRaftServer startServer(Map<String, Object> properties) {
        KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(properties, false), Time.SYSTEM);
        server.startup();
        return server;
    }

    // The same keys a single-node server.properties of the Kafka distribution sets for KRaft combined mode.
    private static Map<String, Object> serverProperties(Path logDirectory, int brokerPort, int controllerPort) {
        Map<String, Object> p = new HashMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", String.valueOf(NODE_ID));
        p.put("controller.quorum.voters", NODE_ID + "@" + LOOPBACK + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + LOOPBACK + ":" + brokerPort + ",CONTROLLER://" + LOOPBACK + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + LOOPBACK + ":" + brokerPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("log.dirs", logDirectory.toString());
        p.put("num.partitions", "1");
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("share.coordinator.state.topic.num.partitions", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "true");
        // Token batches of a few hundred KB fit with room to spare.
        p.put("message.max.bytes", String.valueOf(16 * 1024 * 1024));
        p.put("log.segment.bytes", String.valueOf(64 * 1024 * 1024));
        p.put("controlled.shutdown.enable", "true");
        return p;
    }

    // What `kafka-storage.sh format --standalone`-less static-quorum formatting does: meta.properties and the
    // bootstrap checkpoint with the production metadata version.
    private static void format(Path logDirectory) throws Exception {
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        new Formatter()
                .setPrintStream(quiet)
                .setNodeId(NODE_ID)
                .setClusterId(Uuid.randomUuid().toString())
                .addDirectory(logDirectory.toString())
                .setMetadataLogDirectory(logDirectory.toString())
                .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                .setControllerListenerName("CONTROLLER")
                .run();
    }

    private void awaitReady() {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        try (Admin admin = Admin.create(adminProperties(bootstrapServers))) {
            while (true) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
                        return;
                    }
                } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("the embedded Kafka broker at " + bootstrapServers
                                + " did not become ready within " + READY_TIMEOUT.toSeconds() + " s: " + rootMessage(e), e);
                    }
                }
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the embedded Kafka broker", e);
        }
    }

    private static Properties adminProperties(String bootstrapServers) {
        Properties properties = new Properties();
        properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        properties.put(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-admin");
        properties.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        properties.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return properties;
    }

    /** A port of 127.0.0.1 that is free now, e.g. for a listener given to {@link #start(Path, int, boolean, Consumer)}. */
    public static int freePort() {
        try (ServerSocket socket = new ServerSocket(0, 50, InetAddress.getByName(LOOPBACK))) {
            socket.setReuseAddress(true);
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on " + LOOPBACK + " for the embedded Kafka broker", e);
        }
    }

    /** Deletes the data directory; warns on {@code System.err} instead of failing (a clean-up path). */
    private static void deleteQuietly(Path directory) {
        if (!Files.exists(directory)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) { // children before their folder
                Files.deleteIfExists(path);
            }
        } catch (IOException | UncheckedIOException e) {
            System.err.println("warning: could not delete the embedded broker's data in " + directory + ": "
                    + e.getMessage());
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + (root.getMessage() == null ? "" : ": " + root.getMessage());
    }
}
