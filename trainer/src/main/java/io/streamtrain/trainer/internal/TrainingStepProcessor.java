package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.StepResult;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.DeadLetters;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.ResidentModel;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.TrainerListener;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

/**
 * One token batch, one training step: skip a replay (offset already handled), validate and decode into a
 * preallocated array, train the resident model, then forward one TrainingMetrics record and, every
 * {@code sample.every.steps}, TextSample records (each also kept by the model, for its checkpoints to carry); write
 * a checkpoint when due ({@link SampleWriter}). With {@code loss.spike.ratio} set, a
 * batch is evaluated first and a loss spike is not trained. A record that cannot be trained (not a TokenBatch, a bad
 * batch, a loss spike, a non-finite step) goes to the dead-letter topic through {@link DeadLetters}, synchronously,
 * before its offset counts as handled; nothing a record holds stops the trainer.
 *
 * <p>Times of a step: wait = since the previous step ended (waiting for data), compute = the training step, emit =
 * building and forwarding records, sampling and checkpointing; a metrics record reports the emit time of the
 * previous step, since its own is not over when it is built.
 */
public final class TrainingStepProcessor implements Processor<byte[], byte[], String, byte[]> {

    /** Timing shared by the processors of every task of the process, like the model itself. */
    public static final class StepClock {
        private long lastStepEndNanos;     // 0 = no step yet
        private double previousEmitMillis;
    }

    private final ResidentModel model;
    private final TrainerListener listener;
    private final StepClock clock;
    private final LossSpikeGuard lossSpikes;
    private final SpikeWatch spikes;
    private final Evaluator evaluator;
    private final String metricsSink;
    private final String samplesSink;
    private final DeadLetters deadLetters;
    private final BatchValidator validator;
    private final long maxSteps;
    private final SampleWriter samples;
    private ProcessorContext<String, byte[]> context;

    public TrainingStepProcessor(TrainerConfig config, ResidentModel model, TrainerListener listener, StepClock clock,
                                 LossSpikeGuard lossSpikes, SpikeWatch spikes, Evaluator evaluator, String metricsSink,
                                 String samplesSink, DeadLetters deadLetters) {
        this.evaluator = evaluator;
        this.model = model;
        this.listener = listener;
        this.clock = clock;
        this.lossSpikes = lossSpikes;
        this.spikes = spikes;
        this.metricsSink = metricsSink;
        this.samplesSink = samplesSink;
        this.deadLetters = deadLetters;
        this.validator = new BatchValidator(model.tokenizerIdentity(), model.config(), config.batchRows(),
                config.sequenceLength());
        this.maxSteps = config.maxSteps();
        this.samples = new SampleWriter(config, model.tokenizer(), model.runId());
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
        this.context = context;
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        long start = System.nanoTime();
        RecordMetadata source = context.recordMetadata().orElseThrow(
                () -> new IllegalStateException("a token batch without source topic, partition and offset"));
        TopicPartition partition = new TopicPartition(source.topic(), source.partition());
        long offset = source.offset();
        if (model.alreadyHandled(partition, offset)) {
            model.meters().recordSkippedReplay();
            return;
        }
        if (maxSteps > 0 && model.step() >= maxSteps) {
            return; // max.steps reached: the trainer is stopping; the record stays unhandled for the next run
        }
        try {
            train(record, partition, offset, start);
        } catch (BadBatchException e) {
            DeadLetterReason sentAs = deadLetters.send(record.key(), record.value(), partition, offset, e.reason(),
                    e.getMessage());
            model.recordDeadLetter(partition, offset, sentAs, e.getMessage(), deadLetters.positions());
            listener.onDeadLetter(sentAs, e.getMessage());
        }
    }

    /** Decodes, validates and trains; a record that cannot be trained throws {@link BadBatchException}. */
    private void train(Record<byte[], byte[]> record, TopicPartition partition, long offset, long start) {
        TokenBatch batch = decode(record.value(), partition, offset);
        CheckedTokens tokens = validator.validateAndDecode(batch, partition, offset);
        int B = tokens.rows();
        int T = tokens.sequenceLength();
        double waitMillis = clock.lastStepEndNanos == 0 ? 0 : (start - clock.lastStepEndNanos) / 1e6;

        if (lossSpikes.enabled()) {
            lossSpikes.refuseSpike(batch, model.evaluate(tokens).loss());
        }
        StepResult result = model.train(tokens, batch.getDataset(), batch.getSequence(), partition, offset);
        long computed = System.nanoTime();
        if (!result.applied()) {
            throw new BadBatchException(DeadLetterReason.NON_FINITE_STEP,
                    BatchValidator.describe(batch) + " gave loss " + result.loss() + " and gradient norm "
                            + result.gradientNorm() + "; the update was skipped and the model is unchanged");
        }
        lossSpikes.record(result.loss());
        SpikeWatch.Spike spike = spikes.check(result.loss(), result.gradientNorm());
        evaluator.recordTrainingLoss(result.loss());
        double computeMillis = (computed - start) / 1e6;
        long step = model.step();
        long stepTokens = (long) B * T;
        double tokensPerSecond = stepTokens / ((waitMillis + computeMillis + clock.previousEmitMillis) / 1e3);
        Optional<Evaluation> evaluation = evaluator.evaluateIfDue(step); // counted in the emit time
        Instant now = Instant.now();
        TrainingMetrics.Builder metricsBuilder = TrainingMetrics.newBuilder()
                .setRunId(model.runId()).setStep(step).setTime(now)
                .setLoss(result.loss()).setAccuracy(result.accuracy()).setPerplexity(Math.exp(result.loss()))
                .setLearningRate(result.learningRate()).setGradientNorm(result.gradientNorm())
                .setTokens(stepTokens).setTokensPerSecond(tokensPerSecond)
                .setWaitMillis(waitMillis).setComputeMillis(computeMillis).setEmitMillis(clock.previousEmitMillis)
                .setBackend(model.backendName()).setDevice(model.deviceName())
                .setSourceTopic(partition.topic()).setSourcePartition(partition.partition()).setSourceOffset(offset)
                .setSpike(spike.description());
        if (model.replicas() > 1) {
            metricsBuilder.setRanks(model.replicas()).setGlobalRows(B)
                    .setAllReduceMillis(model.meters().lastAllReduceMillis());
        }
        evaluation.ifPresent(e -> e.addTo(metricsBuilder));
        TrainingMetrics metrics = metricsBuilder.build();
        String key = Topics.runStepKey(model.runId(), step);
        byte[] metricsValue = AvroSerdes.trainingMetrics().serializer().serialize(null, metrics); // once: sent, kept
        context.forward(new Record<>(key, metricsValue, now.toEpochMilli()), metricsSink);
        model.recordEmitted(key, metrics, metricsValue);
        listener.onStep(metrics);
        evaluation.ifPresent(e -> evaluator.announce(e, listener));
        if (samples.due(step)) {
            samples.emit(key, step, tokens.ids(), T, model::generate, (sampleKey, sample, value) -> {
                context.forward(new Record<>(sampleKey, value, sample.getTime().toEpochMilli()), samplesSink);
                model.recordEmitted(sampleKey, sample, value);
                listener.onSample(sample);
            });
        }
        Optional<Path> checkpoint = model.checkpointIfDue();
        checkpoint.ifPresent(path -> listener.onCheckpoint(path, step));

        long end = System.nanoTime();
        clock.previousEmitMillis = (end - computed) / 1e6;
        clock.lastStepEndNanos = end;
        model.meters().recordStep(result.loss(), result.accuracy(), result.learningRate(), result.gradientNorm(),
                stepTokens, tokensPerSecond, end - start);
        spike.kinds().forEach(model.meters()::recordSpike);
    }

    /**
     * The record's TokenBatch, decoded here, at the record's own offset: bytes that are not one are dead-lettered as
     * {@link DeadLetterReason#NOT_A_TOKEN_BATCH}, a tombstone as {@link DeadLetterReason#EMPTY_BATCH}.
     */
    public static TokenBatch decode(byte[] value, TopicPartition partition, long offset) {
        if (value == null) {
            throw new BadBatchException(DeadLetterReason.EMPTY_BATCH,
                    "the record at " + partition + "@" + offset + " has no value (a tombstone)");
        }
        try {
            return AvroSerdes.tokenBatchForTraining().deserialize(partition.topic(), value);
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            // whatever the bytes make Avro do, it is the record's fault: never the trainer's end
            throw new BadBatchException(DeadLetterReason.NOT_A_TOKEN_BATCH, "the record at " + partition + "@"
                    + offset + " (" + value.length + " bytes) is not a TokenBatch: " + e.getMessage());
        }
    }
}
