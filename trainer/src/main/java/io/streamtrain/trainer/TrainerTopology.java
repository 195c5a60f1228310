package io.streamtrain.trainer;

import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.trainer.internal.Evaluator;
import io.streamtrain.trainer.internal.LossSpikeGuard;
import io.streamtrain.trainer.internal.SpikeWatch;
import io.streamtrain.trainer.internal.TrainerProcess;
import io.streamtrain.trainer.internal.TrainingStepProcessor;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;

/**
 * The trainer's topology, built by the one static method that {@link Trainer} and the tests share:
 * <pre>
 *   token-batches (source) → training-step ({@code TrainingStepProcessor}) → metrics (sink)
 *                                                                        → samples (sink)
 *   records it cannot train → the dead-letter topic ({@link DeadLetters}: sent by the training step itself)
 * </pre>
 * Topic names come from the {@link TrainerConfig}, serdes from {@link AvroSerdes}: one place each. Building changes
 * none of its arguments: the same model can stand behind several topologies (each with its own listener).
 */
public final class TrainerTopology {
    public static final String SOURCE = "token-batches";
    public static final String PROCESSOR = "training-step";
    public static final String METRICS_SINK = "metrics";
    public static final String SAMPLES_SINK = "samples";

    private TrainerTopology() {}

    /**
     * @param model    the process's one resident model, shared by the processors of every task
     * @param listener called after each step, sample, checkpoint and dead letter (wrapped so that its failures never
     *                 stop training)
     * @param deadLetters where the training step sends the records it cannot train
     */
    public static Topology build(TrainerConfig config, ResidentModel model, TrainerListener listener,
                                 DeadLetters deadLetters) {
        return build(config, model, listener, deadLetters, Evaluator.none(model));
    }

    /** As {@link #build(TrainerConfig, ResidentModel, TrainerListener, DeadLetters)}, evaluating with {@code evaluator}. */
    public static Topology build(TrainerConfig config, ResidentModel model, TrainerListener listener,
                                 DeadLetters deadLetters, Evaluator evaluator) {
        TrainerListener safeListener = TrainerListener.all(List.of(listener));
        TrainingStepProcessor.StepClock clock = new TrainingStepProcessor.StepClock();
        LossSpikeGuard lossSpikes = new LossSpikeGuard(config.lossSpikeRatio(), config.lossSpikeWarmupSteps());
        SpikeWatch spikes = new SpikeWatch(config.spikeWarningLossRatio(), config.spikeWarningGradientNormRatio());
        Topology topology = new Topology();
        // Raw bytes: a record is decoded by the training step at its own offset, so that a record that is not a
        // TokenBatch is dead-lettered where it is processed, never while its neighbour is (Kafka Streams deserializes
        // a partition's next record before it processes the current one).
        topology.addSource(SOURCE, Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer(),
                config.tokenBatchesTopic());
        topology.addProcessor(PROCESSOR, () -> new TrainingStepProcessor(config, model, safeListener, clock,
                lossSpikes, spikes, evaluator, METRICS_SINK, SAMPLES_SINK, deadLetters), SOURCE);
        // the training step serializes each record once (AvroSerdes) and keeps those bytes for a re-send
        topology.addSink(METRICS_SINK, config.metricsTopic(), Serdes.String().serializer(),
                Serdes.ByteArray().serializer(), PROCESSOR);
        topology.addSink(SAMPLES_SINK, config.samplesTopic(), Serdes.String().serializer(),
                Serdes.ByteArray().serializer(), PROCESSOR);
        return topology;
    }

    /**
     * Kafka Streams settings of the trainer: a client id naming this process and {@code runId} (unless the user's
     * settings give one), one stream thread (one model per process), few records per poll (a step can take seconds),
     * then the user's Kafka client settings ({@code command.config}, {@code kafka.*}) and {@code streams.*}
     * overrides. No exception handler: a record's content never
     * throws out of the training step, and anything else that does is a fault that stops the trainer.
     */
    public static Properties streamsProperties(TrainerConfig config, String runId) {
        Properties properties = new Properties();
        properties.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
        // who this trainer is, for the next one to read from the group's members (TrainerProcess)
        properties.put(StreamsConfig.CLIENT_ID_CONFIG, TrainerProcess.current(runId).clientId());
        properties.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        properties.put(StreamsConfig.STATE_DIR_CONFIG, config.runDir().resolve("kafka-streams").toString());
        properties.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 16);
        properties.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        properties.putAll(config.kafkaClients().clientConfig());
        properties.putAll(config.streamsOverrides());
        return properties;
    }
}
