package io.streamtrain.cli.broker;

import io.streamtrain.cli.support.CliException;
import io.streamtrain.schemas.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code streamtrain broker}: the embedded single-node KRaft broker in the foreground, with its data in a directory
 * that survives restarts, so that {@code produce}, {@code train} and {@code monitor} can run in other terminals
 * without Docker. Ctrl-C stops it cleanly.
 */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = {
                "Run a single-node Kafka broker (KRaft) in the foreground until Ctrl-C.",
                "",
                "Apache Kafka's own server, in this process, on 127.0.0.1. Topics and offsets persist in --data-dir "
                        + "across restarts. Prints the bootstrap address to pass to produce, train and monitor with "
                        + "--bootstrap-servers."})
public final class BrokerCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "streamtrain-kafka-data",
            description = "Directory of the broker's logs and metadata; created and formatted when new (default: ${DEFAULT-VALUE}).")
    private Path dataDirectory;

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "9092",
            description = "Client port on 127.0.0.1; 0 picks a free one (default: ${DEFAULT-VALUE}).")
    private int port;

    @Option(names = "--partitions", paramLabel = "N", defaultValue = "1",
            description = "Partitions of the streamtrain topics created at start when missing (default: ${DEFAULT-VALUE}).")
    private int partitions;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (port < 0 || port > 65535) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--port must be in [0, 65535], got " + port);
        }
        if (partitions < 1) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--partitions must be at least 1, got " + partitions);
        }
        out.println("starting Kafka broker with data in " + dataDirectory.toAbsolutePath() + " ...");
        out.flush();
        EmbeddedKafkaBroker broker;
        try {
            broker = EmbeddedKafkaBroker.start(dataDirectory, port, false);
        } catch (IllegalStateException e) {
            throw new CliException(e.getMessage(), e);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            broker.close();
            stopped.countDown();
        }, "streamtrain-broker-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        broker.createTopics(List.of(Topics.TOKEN_BATCHES, Topics.METRICS, Topics.SAMPLES, Topics.DEAD_LETTERS), partitions);
        out.println("Kafka broker ready: bootstrap servers " + broker.bootstrapServers());
        out.println("  in other terminals:");
        out.println("    ./streamtrain train   --bootstrap-servers " + broker.bootstrapServers());
        out.println("    ./streamtrain produce --bootstrap-servers " + broker.bootstrapServers() + " --input PATH");
        out.println("  Ctrl-C stops the broker; its data stays in " + dataDirectory.toAbsolutePath());
        out.flush();
        stopped.await();
        return 0;
    }
}
