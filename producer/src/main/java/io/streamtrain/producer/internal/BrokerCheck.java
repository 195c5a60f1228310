package io.streamtrain.producer.internal;

import io.streamtrain.producer.ProducerException;
import io.streamtrain.schemas.KafkaClientSettings;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Before producing: the broker answers within a timeout ({@code Admin.describeCluster}), and the topic exists
 * (created with the broker's defaults when allowed). Without this check a producer would block on metadata for a
 * minute and then fail with a message that says little.
 */
public final class BrokerCheck {
    private BrokerCheck() {}

    /**
     * A topic ready to take records.
     *
     * @param description a line for the log, e.g. {@code Kafka cluster abc at localhost:9092, topic t (3 partitions)}
     * @param partitions  the topic's partitions
     */
    public record Ready(String description, int partitions) {
    }

    /**
     * @throws ProducerException when the broker does not answer in time or the topic is missing and may not be created
     */
    public static Ready ensureReady(KafkaClientSettings clients, String topic, boolean createTopic,
                                    Duration timeout) {
        String servers = clients.bootstrapServers();
        Map<String, Object> config = clients.clientConfig();
        int timeoutMs = (int) Math.min(Integer.MAX_VALUE, timeout.toMillis());
        config.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
        config.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Math.min(timeoutMs, 30_000));
        config.putIfAbsent(AdminClientConfig.CLIENT_ID_CONFIG, "streamtrain-producer-check");
        Admin admin;
        try {
            admin = Admin.create(config);
        } catch (KafkaException e) {
            throw new ProducerException("cannot use bootstrap servers '" + servers + "': " + e.getMessage()
                    + "; pass host:port of a running broker (--bootstrap-servers)", e);
        }
        try {
            String clusterId;
            try {
                clusterId = admin.describeCluster(new DescribeClusterOptions().timeoutMs(timeoutMs))
                        .clusterId().get(timeoutMs + 1000L, TimeUnit.MILLISECONDS);
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                clients.explain(cause).ifPresent(rejected -> {
                    throw new ProducerException(rejected, cause);
                });
                throw new ProducerException("cannot reach Kafka at " + servers + " within " + timeoutMs + " ms ("
                        + cause.getClass().getSimpleName() + ": " + cause.getMessage() + "); start a broker "
                        + "(`streamtrain demo` runs one, or `docker compose up kafka`) or pass the right "
                        + "--bootstrap-servers", cause);
            }
            int partitions;
            try {
                partitions = ensureTopic(admin, topic, createTopic, timeoutMs, servers);
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                clients.explain(cause).ifPresent(rejected -> {
                    throw new ProducerException("cannot check or create topic " + topic + ": " + rejected, cause);
                });
                throw new ProducerException("cannot check or create topic " + topic + " at " + servers + " ("
                        + cause.getClass().getSimpleName() + ": " + cause.getMessage() + "); create the topic "
                        + "yourself or grant this client DESCRIBE and CREATE on it", cause);
            }
            return new Ready("Kafka cluster " + clusterId + " at " + servers + ", topic " + topic + " (" + partitions
                    + (partitions == 1 ? " partition)" : " partitions)"), partitions);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ProducerException("interrupted while connecting to Kafka at " + servers, e);
        } finally {
            admin.close(Duration.ofSeconds(2));
        }
    }

    /** Number of partitions of {@code topic}, creating it first when missing and allowed. */
    private static int ensureTopic(Admin admin, String topic, boolean create, int timeoutMs, String servers)
            throws InterruptedException, ExecutionException, java.util.concurrent.TimeoutException {
        try {
            return describe(admin, topic, timeoutMs).partitions().size();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                throw e;
            }
        }
        if (!create) {
            throw new ProducerException("topic " + topic + " does not exist at " + servers + "; create it (e.g. "
                    + "kafka-topics.sh --create --topic " + topic + ") or allow topic.create");
        }
        try {
            admin.createTopics(List.of(new NewTopic(topic, Optional.empty(), Optional.empty())))
                    .all().get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        // A new topic's metadata reaches every broker shortly after creation; wait for it.
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            try {
                return describe(admin, topic, timeoutMs).partitions().size();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException) || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    private static TopicDescription describe(Admin admin, String topic, int timeoutMs)
            throws InterruptedException, ExecutionException, java.util.concurrent.TimeoutException {
        return admin.describeTopics(List.of(topic), new DescribeTopicsOptions().timeoutMs(timeoutMs))
                .allTopicNames().get(timeoutMs + 1000L, TimeUnit.MILLISECONDS).get(topic);
    }
}
