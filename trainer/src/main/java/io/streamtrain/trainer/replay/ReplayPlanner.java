package io.streamtrain.trainer.replay;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.trainer.RunLedger;
import io.streamtrain.trainer.internal.GroupAdmin;
import io.streamtrain.trainer.replay.ReplayPlan.PartitionMove;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.errors.UnsupportedVersionException;

/**
 * Computes a {@link ReplayPlan} from the broker's view (partitions, log-start and log-end offsets, offsets by time,
 * the group's committed offsets) and the checkpoint's; changes nothing. Also the guard every replay passes first:
 * the trainer's group must have no live member.
 */
public final class ReplayPlanner {
    private final Admin admin;
    private final GroupAdmin calls;

    public ReplayPlanner(Admin admin, Duration timeout) {
        this.admin = admin;
        this.calls = new GroupAdmin(admin, timeout, (what, cause) -> new ReplayException("cannot " + what + ": "
                + cause + "; is the broker reachable (--bootstrap-servers)?", cause));
    }

    /**
     * Refuses when {@code groupId} has live members, of the classic protocol (Kafka Streams' default) or of the
     * streams protocol: a running trainer would overwrite the replayed position with its own next checkpoint and
     * commit. The message names every member and says what to do.
     */
    public void requireNoLiveMembers(String groupId) {
        List<String> members = new ArrayList<>();
        ifExists(admin.describeConsumerGroups(List.of(groupId)).describedGroups().get(groupId),
                "describe the consumer group " + groupId).ifPresent(group -> group.members().forEach(member ->
                members.add(member.consumerId() + " (client " + member.clientId() + " on " + member.host() + ")")));
        ifExists(admin.describeStreamsGroups(List.of(groupId)).describedGroups().get(groupId),
                "describe the streams group " + groupId).ifPresent(group -> group.members().forEach(member ->
                members.add(member.memberId() + " (client " + member.clientId() + " on " + member.clientHost() + ")")));
        if (!members.isEmpty()) {
            throw new ReplayException("the trainer of application id " + groupId + " is running: its group has "
                    + members.size() + " live member(s): " + String.join("; ", members) + ". Stop that trainer first"
                    + " (Ctrl-C lets it write its final checkpoint), then run replay again. A trainer that was killed"
                    + " stays a member until its session timeout passes (45 s by default).");
        }
    }

    /**
     * The plan: for each partition of {@code topic}, from where the trainer reads now ({@code handled}, the last
     * handled offsets of the run's newest checkpoint, + 1; else the group's committed offset; else the log start) to
     * where {@code target} says; the model comes from {@code checkpoint}.
     *
     * @throws ReplayException when the topic does not exist or the broker does not answer
     */
    public ReplayPlan plan(String applicationId, String topic, ReplayTarget target, Path checkpointPath,
                           Checkpoint checkpoint, Map<TopicPartition, Long> handled) {
        List<TopicPartition> partitions = partitions(topic);
        Map<TopicPartition, Long> logStart = offsets(partitions, tp -> OffsetSpec.earliest());
        Map<TopicPartition, Long> logEnd = offsets(partitions, tp -> OffsetSpec.latest());
        Map<TopicPartition, OffsetAndMetadata> committed = committedOffsets(applicationId);
        Map<TopicPartition, ListOffsetsResultInfo> byTime = target instanceof ReplayTarget.ToTime time
                ? get(admin.listOffsets(specs(partitions, tp -> OffsetSpec.forTimestamp(time.time().toEpochMilli())))
                .all(), "look up offsets by time in " + topic) : Map.of();

        Map<TopicPartition, Long> trained = RunLedger.of(checkpoint.metadata()).offsets();
        List<PartitionMove> moves = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        for (TopicPartition partition : partitions) {
            long start = logStart.get(partition);
            long end = logEnd.get(partition);
            long current = handled.containsKey(partition) ? handled.get(partition) + 1
                    : committed.get(partition) != null ? committed.get(partition).offset() : start;
            long requested;
            if (target instanceof ReplayTarget.ToOffsets explicit) {
                requested = explicit.offsets().getOrDefault(partition.partition(), current);
            } else if (target instanceof ReplayTarget.ToEarliest) {
                requested = start;
            } else {
                ListOffsetsResultInfo found = byTime.get(partition); // none at or after the time: the end
                requested = found == null || found.offset() < 0 ? end : found.offset();
            }
            long clamped = Math.max(start, Math.min(end, requested));
            PartitionMove move = new PartitionMove(partition.partition(), current, requested, clamped, start, end);
            moves.add(move);
            warnings.addAll(warnings(move, target, byTime.get(partition)));
            Long lastTrained = trained.get(partition);
            if (lastTrained != null && move.target() <= lastTrained) {
                warnings.add("partition " + partition.partition() + " moves back behind the checkpoint's position, to "
                        + move.target() + ": records " + move.target() + ".." + lastTrained + " were already trained"
                        + " into its model (step " + checkpoint.step() + ") and will be trained again; for a model"
                        + " that has not seen them, give --from-checkpoint FILE of an older checkpoint.");
            }
        }
        if (target instanceof ReplayTarget.ToOffsets explicit) {
            explicit.offsets().keySet().stream().filter(p -> p >= partitions.size()).findFirst().ifPresent(p -> {
                throw new ReplayException("--to-offset names partition " + p + " but topic " + topic + " has "
                        + partitions.size() + " partition(s), 0.." + (partitions.size() - 1));
            });
        }
        return new ReplayPlan(applicationId, topic, target.describe(), checkpointPath, checkpoint.step(), moves,
                warnings);
    }

    private static List<String> warnings(PartitionMove move, ReplayTarget target, ListOffsetsResultInfo byTime) {
        List<String> warnings = new ArrayList<>();
        int p = move.partition();
        if (move.belowLogStart()) {
            warnings.add("partition " + p + ": offset " + move.requested() + " is below the log-start offset "
                    + move.logStart() + ": records " + move.requested() + ".." + (move.logStart() - 1)
                    + " are past retention (deleted); the trainer will read from " + move.logStart() + ", "
                    + move.recordsToRead() + " record(s) up to the current end " + move.logEnd() + ".");
        } else if (move.requested() > move.logEnd()) {
            warnings.add("partition " + p + ": offset " + move.requested() + " is beyond the end of the log ("
                    + move.logEnd() + "); the trainer will read from " + move.logEnd() + ", i.e. only new records.");
        } else if (target instanceof ReplayTarget.ToEarliest && move.logStart() > 0) {
            warnings.add("partition " + p + ": records 0.." + (move.logStart() - 1) + " are past retention"
                    + " (deleted); the earliest the trainer can read is " + move.logStart() + ", "
                    + move.recordsToRead() + " record(s).");
        } else if (target instanceof ReplayTarget.ToTime time && move.logStart() > 0 && byTime != null
                && byTime.offset() == move.logStart() && byTime.timestamp() > time.time().toEpochMilli()) {
            warnings.add("partition " + p + ": the oldest retained record (offset " + move.logStart() + ", time "
                    + Instant.ofEpochMilli(byTime.timestamp()) + ") is newer than " + time.time()
                    + ": records 0.." + (move.logStart() - 1) + " are past retention and some of them may be from"
                    + " after that time; the trainer will read from " + move.logStart() + ", "
                    + move.recordsToRead() + " record(s).");
        }
        long firstUnread = Math.max(move.current(), move.logStart()); // below the log start nothing is left to skip
        if (move.target() > firstUnread) {
            warnings.add("partition " + p + " moves forward, from " + firstUnread + " to " + move.target()
                    + ": records " + firstUnread + ".." + (move.target() - 1) + " will not be trained.");
        }
        return warnings;
    }

    /** The partitions of {@code topic}, by number. */
    public List<TopicPartition> partitions(String topic) {
        return calls.getUnless(admin.describeTopics(List.of(topic)).allTopicNames(), "describe topic " + topic,
                        UnknownTopicOrPartitionException.class)
                .orElseThrow(() -> new ReplayException("topic " + topic + " does not exist on this broker; give the"
                        + " trainer's input topic with --topic"))
                .get(topic).partitions().stream()
                .map(info -> new TopicPartition(topic, info.partition()))
                .sorted((a, b) -> Integer.compare(a.partition(), b.partition())).toList();
    }

    private Map<TopicPartition, Long> offsets(List<TopicPartition> partitions,
                                              Function<TopicPartition, OffsetSpec> spec) {
        Map<TopicPartition, Long> offsets = new HashMap<>();
        get(admin.listOffsets(specs(partitions, spec)).all(), "list offsets")
                .forEach((partition, info) -> offsets.put(partition, info.offset()));
        return offsets;
    }

    private static Map<TopicPartition, OffsetSpec> specs(List<TopicPartition> partitions,
                                                         Function<TopicPartition, OffsetSpec> spec) {
        Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
        partitions.forEach(partition -> specs.put(partition, spec.apply(partition)));
        return specs;
    }

    private Map<TopicPartition, OffsetAndMetadata> committedOffsets(String groupId) {
        return ifExists(admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata(),
                "read the committed offsets of group " + groupId).orElse(Map.of());
    }

    /** The future's value; empty when the group does not exist, is of another protocol, or the broker does not know it. */
    private <T> Optional<T> ifExists(KafkaFuture<T> future, String what) {
        return calls.getUnless(future, what, GroupIdNotFoundException.class, UnsupportedVersionException.class);
    }

    <T> T get(KafkaFuture<T> future, String what) {
        return calls.get(future, what);
    }
}
