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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
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
    private final Duration timeout;
    private final PrintStream log;

    public GroupPosition(Admin admin, Duration timeout, PrintStream log) {
        this.admin = admin;
        this.timeout = timeout;
        this.log = log;
    }

    /** Creates those of {@code topics} that do not exist, with the broker's default partitions and replication. */
    public void createMissingTopics(List<String> topics) {
        Set<String> existing = get(admin.listTopics().names(), "list topics");
        List<NewTopic> missing = topics.stream().distinct().filter(topic -> !existing.contains(topic))
                .map(topic -> new NewTopic(topic, Optional.empty(), Optional.empty())).toList();
        if (missing.isEmpty()) {
            return;
        }
        try {
            admin.createTopics(missing).all().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            log.println("created topics " + missing.stream().map(NewTopic::name).toList());
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw failure("create topics " + missing.stream().map(NewTopic::name).toList(), e);
            }
        } catch (InterruptedException | TimeoutException e) {
            throw failure("create topics " + missing.stream().map(NewTopic::name).toList(), e);
        }
    }

    /**
     * Evicts every member of {@code groupId} and aligns its committed offsets of {@code inputTopic} with
     * {@code handledOffsets} (the checkpoint's last handled offset per partition).
     */
    public void alignWithCheckpoint(String groupId, String inputTopic, Map<TopicPartition, Long> handledOffsets) {
        evictMembers(groupId);
        Map<TopicPartition, OffsetAndMetadata> committed = get(
                admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata(), "read committed offsets");
        Map<TopicPartition, OffsetAndMetadata> target = new HashMap<>();
        handledOffsets.forEach((partition, offset) -> {
            if (partition.topic().equals(inputTopic)) {
                target.put(partition, new OffsetAndMetadata(offset + 1, "streamtrain checkpoint"));
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
            get(admin.alterConsumerGroupOffsets(groupId, target).all(), "commit the checkpoint's offsets");
        }
        if (!unknownToCheckpoint.isEmpty()) {
            get(admin.deleteConsumerGroupOffsets(groupId, unknownToCheckpoint).all(),
                    "delete offsets the checkpoint does not know");
            unknownToCheckpoint.forEach(partition -> moves.add(partition + ": " + committed.get(partition).offset()
                    + " -> earliest (not in the checkpoint)"));
        }
        if (!moves.isEmpty()) {
            log.println("group " + groupId + " moved to the checkpoint's position: " + String.join(", ", moves));
        }
    }

    private void evictMembers(String groupId) {
        ConsumerGroupDescription group;
        try {
            group = admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId)
                    .get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return;
            }
            throw failure("describe group " + groupId, e);
        } catch (InterruptedException | TimeoutException e) {
            throw failure("describe group " + groupId, e);
        }
        if (group.members().isEmpty()) {
            return;
        }
        get(admin.removeMembersFromConsumerGroup(groupId, new RemoveMembersFromConsumerGroupOptions()).all(),
                "evict the members of group " + groupId);
        log.println("evicted " + group.members().size() + " stale member(s) from group " + groupId
                + " (left by a process that was killed or did not leave the group)");
    }

    private <T> T get(KafkaFuture<T> future, String what) {
        try {
            return future.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException | InterruptedException | TimeoutException e) {
            throw failure(what, e);
        }
    }

    private IllegalStateException failure(String what, Exception e) {
        if (e instanceof InterruptedException) {
            Thread.currentThread().interrupt();
        }
        Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
        return new IllegalStateException("cannot " + what + " before starting: " + cause
                + "; is the broker reachable and is no other trainer of this application id running?", cause);
    }
}
