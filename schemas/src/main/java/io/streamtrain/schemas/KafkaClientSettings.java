package io.streamtrain.schemas;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.errors.SslAuthenticationException;

/**
 * The Kafka client settings of a command, one way for every client it makes (admin, producer, consumer, Kafka
 * Streams), in the convention of Kafka's own tools: a properties file of client settings ({@value #COMMAND_CONFIG},
 * the {@code --command-config FILE} of {@code kafka-topics.sh} and of every streamtrain command), then
 * {@value #PREFIX}{@code <setting>} keys of the command's configuration, which win over the file, then the command's
 * bootstrap servers, which win over both.
 *
 * <pre>{@code
 * # client.properties: SASL over TLS
 * security.protocol=SASL_SSL
 * sasl.mechanism=SCRAM-SHA-512
 * sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="trainer" password="...";
 * ssl.truststore.location=/etc/kafka/truststore.p12
 * ssl.truststore.password=...
 * }</pre>
 *
 * A failure of any client whose cause is that the cluster rejected the client (credentials, TLS, ACLs) is explained
 * by {@link #explain(Throwable)}; {@link #probe(Duration)} finds such a rejection at start-up, within a bounded time.
 */
public final class KafkaClientSettings {
    /** Prefix of the configuration keys passed to every Kafka client, without it: {@code kafka.security.protocol}. */
    public static final String PREFIX = "kafka.";
    /** Configuration key of the client properties file. */
    public static final String COMMAND_CONFIG = "command.config";
    public static final String COMMAND_CONFIG_DOC = "A properties file of Kafka client settings (security.protocol, "
            + "sasl.*, ssl.* ...) for every Kafka client of this command, as Kafka's tools take with --command-config; "
            + PREFIX + "<setting> keys win over it, bootstrap.servers over both. Empty = none.";
    private static final String[] SECRET_MARKERS = {"password", "jaas", "secret", "credential", "token"};

    private final String bootstrapServers;
    private final Map<String, Object> settings;

    private KafkaClientSettings(String bootstrapServers, Map<String, Object> settings) {
        this.bootstrapServers = bootstrapServers;
        this.settings = settings;
    }

    /** Adds the {@value #COMMAND_CONFIG} key to a configuration's definition. */
    public static ConfigDef define(ConfigDef definition) {
        return definition.define(COMMAND_CONFIG, Type.STRING, "", Importance.MEDIUM, COMMAND_CONFIG_DOC);
    }

    /** The settings of a configuration that {@link #define defines} {@value #COMMAND_CONFIG} and may hold {@value #PREFIX} keys. */
    public static KafkaClientSettings from(AbstractConfig config, String bootstrapServers) {
        return of(bootstrapServers, config.getString(COMMAND_CONFIG), config.originalsWithPrefix(PREFIX));
    }

    /**
     * @param commandConfig the path of a client properties file, or null or empty for none
     * @param overrides     client settings without the {@value #PREFIX}, winning over the file's
     * @throws ConfigException naming {@value #COMMAND_CONFIG} when the file cannot be read
     */
    public static KafkaClientSettings of(String bootstrapServers, String commandConfig, Map<String, ?> overrides) {
        Map<String, Object> settings = new LinkedHashMap<>();
        if (commandConfig != null && !commandConfig.isBlank()) {
            Path file = Path.of(commandConfig.trim());
            Properties properties = new Properties();
            try (InputStream in = Files.newInputStream(file)) {
                properties.load(in);
            } catch (IOException | IllegalArgumentException e) {
                throw new ConfigException(COMMAND_CONFIG, commandConfig, "cannot read the Kafka client properties file "
                        + file.toAbsolutePath() + ": " + e);
            }
            new TreeMap<>(properties).forEach((key, value) -> settings.put(key.toString(), value));
        }
        settings.putAll(overrides);
        settings.remove(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG);
        return new KafkaClientSettings(bootstrapServers, Map.copyOf(settings));
    }

    /** No settings beyond the bootstrap servers: a PLAINTEXT cluster. */
    public static KafkaClientSettings plaintext(String bootstrapServers) {
        return new KafkaClientSettings(bootstrapServers, Map.of());
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** The same settings for other bootstrap servers. */
    public KafkaClientSettings withBootstrapServers(String servers) {
        return new KafkaClientSettings(servers, settings);
    }

    /** The file's and the {@value #PREFIX} settings, without the bootstrap servers. */
    public Map<String, Object> settings() {
        return settings;
    }

    /** Every setting of a client: the user's, then {@code bootstrap.servers}. A new, mutable map. */
    public Map<String, Object> clientConfig() {
        return clientConfig(Map.of());
    }

    /**
     * A client's own defaults (client id, timeouts), overridden by the user's settings, then {@code bootstrap.servers}.
     * A new, mutable map: the caller puts what it must always have (serializers, idempotence) after.
     */
    public Map<String, Object> clientConfig(Map<String, ?> defaults) {
        Map<String, Object> config = new LinkedHashMap<>(defaults);
        config.putAll(settings);
        config.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return config;
    }

    /** The user's settings with {@value #PREFIX} keys, secrets masked: for printing a configuration. */
    public Map<String, String> describe() {
        Map<String, String> described = new TreeMap<>();
        settings.forEach((key, value) -> described.put(PREFIX + key, mask(key, value)));
        return described;
    }

    /** {@code value} as text, or {@code [hidden]} when {@code key} names a password, JAAS configuration or secret. */
    public static String mask(String key, Object value) {
        String lower = key.toLowerCase(Locale.ROOT);
        for (String marker : SECRET_MARKERS) {
            if (lower.contains(marker)) {
                return "[hidden]";
            }
        }
        return String.valueOf(value);
    }

    /**
     * Asks the cluster for its id, within {@code timeout}.
     *
     * @return the cluster id, or empty when no broker answered in time (it may be starting)
     * @throws KafkaException with {@link #explain} as message when the cluster rejected this client
     */
    public Optional<String> probe(Duration timeout) {
        int timeoutMs = (int) Math.min(Integer.MAX_VALUE, Math.max(1, timeout.toMillis()));
        Map<String, Object> config = clientConfig(Map.of(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-probe"));
        config.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
        config.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
        try (Admin admin = Admin.create(config)) {
            return Optional.of(admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs)).clusterId()
                    .get(timeoutMs + 2000L, TimeUnit.MILLISECONDS));
        } catch (ExecutionException e) {
            Optional<String> rejected = explain(e);
            if (rejected.isPresent()) {
                throw new KafkaException(rejected.get(), e.getCause());
            }
            return Optional.empty();
        } catch (java.util.concurrent.TimeoutException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KafkaException("interrupted while connecting to Kafka at " + bootstrapServers, e);
        }
    }

    /**
     * What to tell the user when {@code failure}, or one of its causes, says that the cluster rejected this client:
     * its credentials (SASL), the TLS handshake, or its permissions (ACLs); empty for any other failure.
     */
    public Optional<String> explain(Throwable failure) {
        for (Throwable t = failure; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String detail = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            if (t instanceof SaslAuthenticationException) {
                return Optional.of("Kafka at " + bootstrapServers + " rejected this client's credentials (" + detail
                        + "): check sasl.mechanism and the user name and password in sasl.jaas.config of the client "
                        + "properties (--command-config FILE or " + PREFIX + "* settings)");
            }
            if (t instanceof SslAuthenticationException) {
                return Optional.of("the TLS handshake with Kafka at " + bootstrapServers + " failed (" + detail
                        + "): check security.protocol and ssl.truststore.location/password (the broker's CA) of the "
                        + "client properties (--command-config FILE or " + PREFIX + "* settings)");
            }
            if (t instanceof org.apache.kafka.common.errors.AuthenticationException) {
                return Optional.of("Kafka at " + bootstrapServers + " did not authenticate this client (" + detail
                        + "): check security.protocol, sasl.* and ssl.* of the client properties (--command-config "
                        + "FILE or " + PREFIX + "* settings)");
            }
            if (t instanceof AuthorizationException) {
                return Optional.of("Kafka at " + bootstrapServers + " refused this client (" + detail
                        + "): grant its principal the ACLs the command needs (see the README's Kafka security section)");
            }
        }
        return Optional.empty();
    }

    /** Settings masked; for logs. */
    @Override
    public String toString() {
        return "bootstrap.servers=" + bootstrapServers + (settings.isEmpty() ? "" : " " + describe());
    }
}
