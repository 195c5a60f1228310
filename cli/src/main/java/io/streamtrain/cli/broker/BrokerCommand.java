package io.streamtrain.cli.broker;

import io.streamtrain.broker.EmbeddedKafkaBroker;
import io.streamtrain.cli.support.CliException;
import io.streamtrain.cli.options.CommandSettings;
import io.streamtrain.cli.options.ConfiguredCommand;
import io.streamtrain.cli.options.ResolvedSettings;
import io.streamtrain.schemas.Topics;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Range;
import org.apache.kafka.common.config.ConfigDef.Type;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * {@code streamtrain broker}: the embedded single-node KRaft broker in the foreground, with its data in a directory
 * that survives restarts, so that {@code produce}, {@code train} and {@code monitor} can run in other terminals
 * without Docker. Ctrl-C stops it cleanly.
 */
@Command(name = "broker", mixinStandardHelpOptions = true, modelTransformer = CommandSettings.Flags.class,
        description = {
                "Run a single-node Kafka broker (KRaft) in the foreground until Ctrl-C.",
                "",
                "Apache Kafka's own server, in this process, on 127.0.0.1. Topics and offsets persist in --data-dir "
                        + "across restarts. Prints the bootstrap address to pass to produce, train and monitor with "
                        + "--bootstrap-servers."})
public final class BrokerCommand extends ConfiguredCommand {
    static final String DATA_DIR = "data.dir";
    static final String PORT = "port";
    static final String PARTITIONS = "partitions";

    static final ConfigDef DEFINITION = new ConfigDef()
            .define(DATA_DIR, Type.STRING, "streamtrain-kafka-data", new ConfigDef.NonEmptyString(), Importance.HIGH,
                    "Directory of the broker's logs and metadata; created and formatted when new.")
            .define(PORT, Type.INT, 9092, Range.between(0, 65535), Importance.HIGH,
                    "Client port on 127.0.0.1; 0 picks a free one.")
            .define(PARTITIONS, Type.INT, 1, Range.atLeast(1), Importance.MEDIUM,
                    "Partitions of the streamtrain topics created at start when missing.");

    static final CommandSettings SETTINGS = CommandSettings.of(DEFINITION)
            .flag("--data-dir", DATA_DIR, "DIR")
            .flag("--port", PORT, "PORT")
            .flag("--partitions", PARTITIONS, "N");

    public BrokerCommand() {
        super(SETTINGS);
    }

    @Override
    protected Integer run(ResolvedSettings settings) throws Exception {
        Path dataDirectory = Path.of((String) settings.value(DATA_DIR));
        int port = (Integer) settings.value(PORT);
        int partitions = (Integer) settings.value(PARTITIONS);
        PrintWriter out = spec.commandLine().getOut();
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
