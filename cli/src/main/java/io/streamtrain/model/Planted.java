package io.streamtrain.model;

/** A planted violation of the layering (scratch commit, reverted): the model package using Kafka. */
final class Planted {
    static final Object KAFKA = new org.apache.kafka.common.TopicPartition("planted", 0);
}
