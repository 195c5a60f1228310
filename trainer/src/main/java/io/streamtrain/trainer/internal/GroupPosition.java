package io.streamtrain.trainer.internal;

import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Puts the trainer's consumer group where its checkpoint says, before Kafka Streams starts: evicts the members a
 * killed trainer left behind (else a restart waits out their session timeout), refuses to start beside a live trainer
 * of the same application id, then commits checkpoint offset + 1
 * for every partition the checkpoint knows and deletes the committed offsets of the input topic's other partitions
 * (the model has seen nothing of them: they start from the earliest record). Also creates missing topics.
 */
public final class GroupPosition {
    private final Admin admin;
    private final GroupAdmin calls;
    private final Duration timeout;
    private final PrintStream log;

    public GroupPosition(Admin admin, Duration timeout, PrintStream log) {
        this.admin = admin;
        this.timeout = timeout;
        this.calls = new GroupAdmin(admin, timeout, (what, cause) -> new IllegalStateException("cannot " + what
                + " before starting: " + cause + "; is the broker reachable and is no other trainer of this"
                + " application id running?", cause));
        this.log = log;
    }

    /**
     * Waits until a broker answers, at most {@code limit}, printing a progress line every 5 s: a trainer started
     * with its broker, or while the broker restarts, does not give up at once. Returns at once when one answers;
     * fails at once on an error that waiting does not cure (credentials, TLS, ACLs).
     *
     * @throws IllegalStateException naming the address and the last error when none answered in time
     */
    public void awaitBroker(String bootstrapServers, Duration limit) {
        long start = System.nanoTime();
        long nextLine = start;
        while (true) {
            try {
                admin.describeCluster(new DescribeClusterOptions().timeoutMs(2000)).nodes().get();
                if (nextLine != start) {
                    log.println("broker at " + bootstrapServers + " is up after "
                            + (System.nanoTime() - start) / 1_000_000_000L + " s");
                }
                return;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof RetriableException)) {
                    // rejected credentials, TLS, ACLs: waiting would not help; the caller explains the cause
                    throw new IllegalStateException("cannot reach the Kafka broker at " + bootstrapServers + ": "
                            + e.getCause(), e.getCause());
                }
                long waited = System.nanoTime() - start;
                if (waited >= limit.toNanos()) {
                    throw new IllegalStateException("no Kafka broker answered at " + bootstrapServers + " within "
                            + limit.toSeconds() + " s (broker.wait.seconds): " + e.getCause() + "; start Kafka, or"
                            + " check bootstrap.servers", e.getCause());
                }
                if (System.nanoTime() >= nextLine) {
                    log.println("waiting for the Kafka broker at " + bootstrapServers + " (" + waited / 1_000_000_000L
                            + " s of " + limit.toSeconds() + " s): " + e.getCause().getMessage());
                    nextLine = System.nanoTime() + 5_000_000_000L;
                }
                sleep(500, "waiting for the broker at " + bootstrapServers);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the broker at " + bootstrapServers, e);
            }
        }
    }

    private static void sleep(long millis, String what) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while " + what, e);
        }
    }

    /** Creates those of {@code topics} that do not exist, with the broker's default partitions and replication. */
    public void createMissingTopics(List<String> topics) {
        createMissingTopics(topics, Map.of());
    }

    /**
     * Creates those of {@code topics} that do not exist, with the broker's defaults and the topic {@code configs}, and
     * returns once a broker describes each: the controller acknowledges a new topic before the brokers' metadata
     * holds it, and a configuration read in between failed with {@code UnknownTopicOrPartitionException} (a rank of a
     * world reads the dead-letter topic's {@code max.message.bytes} right after creating it).
     */
    public void createMissingTopics(List<String> topics, Map<String, String> configs) {
        Set<String> existing = calls.get(admin.listTopics().names(), "list topics");
        List<NewTopic> missing = topics.stream().distinct().filter(topic -> !existing.contains(topic))
                .map(topic -> new NewTopic(topic, Optional.empty(), Optional.empty()).configs(configs)).toList();
        if (missing.isEmpty()) {
            return;
        }
        List<String> names = missing.stream().map(NewTopic::name).toList();
        boolean created = calls.getUnless(admin.createTopics(missing).all().thenApply(done -> true),
                "create topics " + names, TopicExistsException.class).isPresent();
        if (created) {
            log.println("created topics " + names);
        }
        names.forEach(this::awaitDescribed);
    }

    /** Waits, at most the admin timeout, until a broker describes the configuration of {@code topic}. */
    private void awaitDescribed(String topic) {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        long deadline = System.nanoTime() + timeout.toNanos();
        while (calls.getUnless(admin.describeConfigs(List.of(resource)).all(), "read the configuration of topic "
                + topic, UnknownTopicOrPartitionException.class).isEmpty()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("topic " + topic + " was created, but no broker knows it after "
                        + timeout.toSeconds() + " s; is the cluster healthy?");
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for the new topic " + topic, e);
            }
        }
    }

    /**
     * The largest record {@code topic} accepts: its {@code max.message.bytes} (the broker's {@code message.max.bytes}
     * unless the topic overrides it).
     */
    public int maxMessageBytes(String topic) {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = calls.get(admin.describeConfigs(List.of(resource)).values().get(resource),
                "read the configuration of topic " + topic);
        ConfigEntry entry = config.get(TopicConfig.MAX_MESSAGE_BYTES_CONFIG);
        return Integer.parseInt(entry.value());
    }

    /**
     * Makes room in {@code groupId} (stale members evicted, a live trainer refused, see {@link #makeRoom}) and aligns
     * its committed offsets of {@code inputTopic} with
     * {@code handledOffsets} (the checkpoint's last handled offset per partition).
     */
    public void alignWithCheckpoint(String groupId, String inputTopic, Map<TopicPartition, Long> handledOffsets,
                                    Duration memberWait) {
        makeRoom(groupId, memberWait);
        Map<TopicPartition, OffsetAndMetadata> committed = calls.get(
                admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata(), "read committed offsets");
        Map<TopicPartition, OffsetAndMetadata> target = new HashMap<>();
        handledOffsets.forEach((partition, offset) -> {
            if (partition.topic().equals(inputTopic)) {
                // no metadata string: Kafka Streams warns ("Unsupported offset metadata") on any it did not write
                target.put(partition, new OffsetAndMetadata(offset + 1));
            }
        });
        Set<TopicPartition> unknownToCheckpoint = new HashSet<>();
        committed.forEach((partition, offset) -> {
            if (partition.topic().equals(inputTopic) && !target.containsKey(partition) && offset != null) {
                unknownToCheckpoint.add(partition);
            }
        });
        List<String> moves = new ArrayList<>();
        target.forEach((partition, offset) -> {
            OffsetAndMetadata was = committed.get(partition);
            if (was == null || was.offset() != offset.offset()) {
                moves.add(partition + ": " + (was == null ? "none" : was.offset()) + " -> " + offset.offset());
            }
        });
        if (!target.isEmpty()) {
            calls.get(admin.alterConsumerGroupOffsets(groupId, target).all(), "commit the checkpoint's offsets");
        }
        if (!unknownToCheckpoint.isEmpty()) {
            calls.get(admin.deleteConsumerGroupOffsets(groupId, unknownToCheckpoint).all(),
                    "delete offsets the checkpoint does not know");
            unknownToCheckpoint.forEach(partition -> moves.add(partition + ": " + committed.get(partition).offset()
                    + " -> earliest (not in the checkpoint)"));
        }
        if (!moves.isEmpty()) {
            log.println("group " + groupId + " moved to the checkpoint's position: " + String.join(", ", moves));
        }
    }

    /**
     * Makes room in {@code groupId} for this trainer without ever evicting a live one. Members left by a killed
     * trainer on this host (its pid gone, see {@link TrainerProcess}) are evicted at once; members this host cannot
     * judge (another host, another client) are waited for, up to {@code wait}, as the group coordinator drops them
     * when their session times out.
     *
     * @throws IllegalStateException naming the live trainer (host, pid, run) or member that holds the group
     */
    private void makeRoom(String groupId, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        boolean announced = false;
        while (true) {
            Optional<ConsumerGroupDescription> group = calls.getUnless(
                    admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId),
                    "describe group " + groupId, GroupIdNotFoundException.class);
            List<MemberDescription> members = group.map(g -> List.copyOf(g.members())).orElse(List.of());
            if (members.isEmpty()) {
                return;
            }
            List<String> live = new ArrayList<>();
            List<String> unknown = new ArrayList<>();
            for (MemberDescription member : members) {
                Optional<TrainerProcess> trainer = TrainerProcess.ofClientId(member.clientId());
                if (trainer.isPresent() && trainer.get().isHere()) {
                    if (trainer.get().isAliveHere()) {
                        live.add("trainer " + trainer.get());
                    }
                } else {
                    unknown.add(trainer.map(t -> "trainer " + t).orElse("client " + member.clientId()
                            + " at " + member.host()));
                }
            }
            if (!live.isEmpty()) {
                throw new IllegalStateException("application id " + groupId + " is in use by a running "
                        + String.join(" and ", live) + "; two trainers would each train a part of the stream: stop"
                        + " it first, or give this one another application.id");
            }
            if (unknown.isEmpty()) {
                calls.get(admin.removeMembersFromConsumerGroup(groupId, new RemoveMembersFromConsumerGroupOptions())
                        .all(), "evict the stale members of group " + groupId);
                log.println("evicted " + members.size() + " stale member(s) from group " + groupId
                        + " (left by a trainer on this host that was killed)");
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("application id " + groupId + " is held by "
                        + String.join(" and ", unknown) + ", still in the group after " + wait.toSeconds()
                        + " s; a trainer elsewhere may be running: stop it first, or give this one another"
                        + " application.id");
            }
            if (!announced) {
                log.println("waiting up to " + wait.toSeconds() + " s for " + String.join(" and ", unknown)
                        + " to leave group " + groupId + " (a trainer elsewhere, or one killed whose session has not"
                        + " timed out)");
                announced = true;
            }
            sleep(1000, "waiting for group " + groupId);
        }
    }
}
