package io.streamtrain.cli.options;

import io.streamtrain.schemas.KafkaClientSettings;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The Kafka cluster a command talks to and how: {@code --bootstrap-servers} (default {@code localhost:9092}) and
 * {@code --command-config FILE}, the client properties file of Kafka's tools (security, SASL, TLS), for every Kafka
 * client of the command ({@link KafkaClientSettings}).
 */
public final class KafkaOptions {
    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092", paramLabel = "HOST:PORT",
            description = "Kafka brokers, host:port[,host:port...] (default: ${DEFAULT-VALUE}; `streamtrain broker` starts one there).")
    public String bootstrapServers;

    @Option(names = "--command-config", paramLabel = "FILE",
            description = "Kafka client properties (security.protocol, sasl.*, ssl.* ...) for every Kafka client of "
                    + "this command, as Kafka's tools take them; kafka.<setting> keys win over the file.")
    public Path commandConfig;

    /** The command config's path for a {@link KafkaClientSettings#COMMAND_CONFIG} key, or empty. */
    public String commandConfigValue() {
        return commandConfig == null ? "" : commandConfig.toString();
    }

    /** The settings of these flags alone (for commands without a configuration of their own). */
    public KafkaClientSettings clientSettings() {
        return KafkaClientSettings.of(bootstrapServers, commandConfigValue(), Map.of());
    }
}
