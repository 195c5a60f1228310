package io.streamtrain.trainer.world;

import io.streamtrain.schemas.KafkaClientSettings;
import java.io.IOException;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * How the ranks of a world find each other, with Kafka as the only service: a compacted control topic (one
 * partition) holds, under the world's name, the newest generation's record: generation, world size, rank 0's
 * address and, for GPU worlds, the NCCL unique id. Rank 0 takes generation = the newest + 1, listens, and publishes;
 * every other rank reads the newest record and joins rank 0, which refuses a rank of another generation. A record
 * left by a dead world is recognised by its address not answering or answering with another generation: the rank
 * then waits for a newer record. So a restart of every rank, in any order, forms the next generation.
 */
public final class Rendezvous {
    /** What rank 0 published. {@code ncclId} is empty for CPU worlds. */
    public record World(long generation, int worldSize, String address, byte[] ncclId) {
        String encode() {
            return "generation=" + generation + "\nworld.size=" + worldSize + "\naddress=" + address + "\nnccl.id="
                    + Base64.getEncoder().encodeToString(ncclId) + "\n";
        }

        static World decode(String value) {
            Map<String, String> fields = new LinkedHashMap<>();
            for (String line : value.split("\n")) {
                int equals = line.indexOf('=');
                if (equals > 0) {
                    fields.put(line.substring(0, equals), line.substring(equals + 1));
                }
            }
            return new World(Long.parseLong(fields.get("generation")), Integer.parseInt(fields.get("world.size")),
                    fields.get("address"), Base64.getDecoder().decode(fields.getOrDefault("nccl.id", "")));
        }
    }

    private final KafkaClientSettings clients;
    private final String topic;
    private final String name;

    /**
     * The rendezvous of world {@code name} on control topic {@code topic} (created, compacted, when missing), through
     * Kafka clients of the user's {@code clients} settings (security and all).
     */
    public Rendezvous(KafkaClientSettings clients, String topic, String name) {
        this.clients = clients;
        this.topic = topic;
        this.name = name;
    }

    /** Creates the control topic, compacted with one partition, unless it exists. */
    public void ensureTopic() throws IOException {
        try (Admin admin = Admin.create(clients.clientConfig())) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) -1)
                    .configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, TopicConfig.CLEANUP_POLICY_COMPACT))))
                    .all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IOException("cannot create the control topic " + topic + " on " + clients.bootstrapServers() + ": "
                        + e.getCause().getMessage(), e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while creating the control topic " + topic, e);
        }
    }

    /** The newest record of this world on the control topic, if any. */
    public Optional<World> newest() {
        Map<String, Object> properties = clients.clientConfig();
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        properties.remove(ConsumerConfig.GROUP_ID_CONFIG);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(properties, new StringDeserializer(),
                new StringDeserializer())) {
            TopicPartition partition = new TopicPartition(topic, 0);
            consumer.assign(List.of(partition));
            consumer.seekToBeginning(List.of(partition));
            long end = consumer.endOffsets(List.of(partition)).get(partition);
            World newest = null;
            while (consumer.position(partition) < end) {
                for (ConsumerRecord<String, String> record : consumer.poll(Duration.ofMillis(200))) {
                    if (name.equals(record.key()) && record.value() != null) {
                        World world = World.decode(record.value());
                        newest = newest == null || world.generation() >= newest.generation() ? world : newest;
                    }
                }
            }
            return Optional.ofNullable(newest);
        }
    }

    /** Publishes rank 0's record of a new generation (waits for the broker's acknowledgement). */
    public void publish(World world) throws IOException {
        Map<String, Object> properties = clients.clientConfig();
        properties.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(properties, new StringSerializer(),
                new StringSerializer())) {
            producer.send(new ProducerRecord<>(topic, 0, name, world.encode())).get();
        } catch (ExecutionException e) {
            throw new IOException("cannot publish generation " + world.generation() + " of world " + name + " on "
                    + topic + ": " + e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while publishing the world", e);
        }
    }

    /**
     * Rank 0: the next generation's listener, published with {@code ncclId} (empty for CPU worlds); then
     * {@link SocketReducer.Listener#accept} waits for the others.
     */
    public Formed<SocketReducer.Listener> lead(String host, int worldSize, byte[] ncclId) throws IOException {
        ensureTopic();
        long generation = newest().map(World::generation).orElse(0L) + 1;
        SocketReducer.Listener listener = SocketReducer.listen(host, worldSize, generation);
        World world = new World(generation, worldSize, listener.address(), ncclId);
        try {
            publish(world);
        } catch (IOException e) {
            listener.close();
            throw e;
        }
        return new Formed<>(world, listener);
    }

    /**
     * Rank {@code rank} (> 0): waits up to {@code timeout} for a live generation of this world of {@code worldSize}
     * and joins it.
     *
     * @throws IllegalStateException when no live rank 0 of that world size appeared in time (saying what was seen)
     */
    public Formed<SocketReducer> join(int worldSize, int rank, Duration timeout) throws IOException {
        ensureTopic();
        long deadline = System.nanoTime() + timeout.toNanos();
        String seen = "nothing";
        long refusedGeneration = -1;
        while (System.nanoTime() < deadline) {
            Optional<World> newest = newest();
            if (newest.isPresent() && newest.get().generation() > refusedGeneration) {
                World world = newest.get();
                if (world.worldSize() != worldSize) {
                    seen = "generation " + world.generation() + " of world size " + world.worldSize();
                } else {
                    try {
                        return new Formed<>(world, SocketReducer.connect(world.address(), worldSize, rank,
                                world.generation()));
                    } catch (IOException | IllegalStateException e) {
                        seen = "generation " + world.generation() + " at " + world.address() + ": " + e.getMessage();
                        refusedGeneration = world.generation(); // a dead or other world: wait for a newer one
                    }
                }
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for rank 0", e);
            }
        }
        throw new IllegalStateException("rank " + rank + " found no live rank 0 of world '" + name + "' (size "
                + worldSize + ") on " + topic + " within " + timeout.toSeconds() + " s; last seen: " + seen
                + "; start rank 0 with the same --world-size");
    }

    /** A rank's view of the world it formed: the published record and its link (listener or reducer). */
    public record Formed<L>(World world, L link) {
    }
}
