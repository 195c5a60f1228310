package io.streamtrain.cli.options;

import picocli.CommandLine.Option;

/** The Kafka cluster a command talks to: {@code --bootstrap-servers}, default {@code localhost:9092}. */
public final class KafkaOptions {
    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092", paramLabel = "HOST:PORT",
            description = "Kafka brokers, host:port[,host:port...] (default: ${DEFAULT-VALUE}; `streamtrain broker` starts one there).")
    public String bootstrapServers;
}
