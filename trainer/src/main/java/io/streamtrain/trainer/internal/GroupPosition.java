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
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Puts the trainer's consumer group where its checkpoint says, before Kafka Streams starts: evicts the members a
 * killed process left behind (else a restart waits out their session timeout), then commits checkpoint offset + 1
 * for every partition the checkpoint knows and deletes the committed offsets of the input topic's other partitions
 * (the model has seen nothing of them: they start from the earliest record). Also creates missing topics.
 */
public final class GroupPosition {
    private final Admin admin;
    private final GroupAdmin calls;
    private final PrintStream log;

    public GroupPosition(Admin admin, Duration timeout, PrintStream log) {
        this.admin = admin;
        this.calls = new GroupAdmin(admin, timeout, (what, cause) -> new IllegalStateException("cannot " + what
                + " before starting: " + cause + "; is the broker reachable and is no other trainer of this"
                + " application id running?", cause));
        this.log = log;
    }

    /** Creates those of {@code topics} that do not exist, with the broker's default partitions and replication. */
    public void createMissingTopics(List<String> topics) {
        Set<String> existing = calls.get(admin.listTopics().names(), "list topics");
        List<NewTopic> missing = topics.stream().distinct().filter(topic -> !existing.contains(topic))
                .map(topic -> new NewTopic(topic, Optional.empty(), Optional.empty())).toList();
        if (missing.isEmpty()) {
            return;
        }
        List<String> names = missing.stream().map(NewTopic::name).toList();
        boolean created = calls.getUnless(admin.createTopics(missing).all().thenApply(done -> true),
                "create topics " + names, TopicExistsException.class).isPresent();
        if (created) {
            log.println("created topics " + names);
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
     * Evicts every member of {@code groupId} and aligns its committed offsets of {@code inputTopic} with
     * {@code handledOffsets} (the checkpoint's last handled offset per partition).
     */
    public void alignWithCheckpoint(String groupId, String inputTopic, Map<TopicPartition, Long> handledOffsets) {
        evictMembers(groupId);
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

    private void evictMembers(String groupId) {
        Optional<ConsumerGroupDescription> group = calls.getUnless(
                admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId),
                "describe group " + groupId, GroupIdNotFoundException.class);
        if (group.isEmpty() || group.get().members().isEmpty()) {
            return;
        }
        calls.get(admin.removeMembersFromConsumerGroup(groupId, new RemoveMembersFromConsumerGroupOptions()).all(),
                "evict the members of group " + groupId);
        log.println("evicted " + group.get().members().size() + " stale member(s) from group " + groupId
                + " (left by a process that was killed or did not leave the group)");
    }
}
