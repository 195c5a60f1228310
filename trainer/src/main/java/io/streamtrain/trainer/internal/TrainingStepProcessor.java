package io.streamtrain.trainer.internal;

import io.streamtrain.model.CheckedTokens;
import io.streamtrain.model.SamplingOptions;
import io.streamtrain.model.StepResult;
import io.streamtrain.schemas.AvroSerdes;
import io.streamtrain.schemas.TextSample;
import io.streamtrain.schemas.TokenBatch;
import io.streamtrain.schemas.Topics;
import io.streamtrain.schemas.TrainingMetrics;
import io.streamtrain.tokenizer.Tokenizer;
import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.DeadLetters;
import io.streamtrain.trainer.Evaluation;
import io.streamtrain.trainer.ResidentModel;
import io.streamtrain.trainer.TrainerConfig;
import io.streamtrain.trainer.TrainerListener;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
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
 * a checkpoint when due. With {@code loss.spike.ratio} set, a
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
    private final int sampleEverySteps;
    private final int samplePromptTokens;
    private final int sampleMaxNewTokens;
    private final SamplingOptions sampling;
    private final long seed;
    private final int[] fixedPrompt;   // encoded once; null when none is configured
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
        this.sampleEverySteps = config.sampleEverySteps();
        this.samplePromptTokens = config.samplePromptTokens();
        this.sampleMaxNewTokens = config.sampleMaxNewTokens();
        this.sampling = new SamplingOptions((float) config.sampleTemperature(), config.sampleTopK());
        this.seed = config.seed();
        this.fixedPrompt = config.sampleFixedPrompt().isEmpty() ? null
                : model.tokenizer().encode(config.sampleFixedPrompt());
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
            double loss = model.evaluate(tokens).loss();
            if (lossSpikes.isSpike(loss)) {
                throw new BadBatchException(DeadLetterReason.LOSS_SPIKE,
                        BatchValidator.describe(batch) + " has loss " + String.format("%.4f", loss) + ", above "
                                + String.format("%.4f", lossSpikes.limit()) + " (loss.spike.ratio times the recent"
                                + " average); it was not trained");
            }
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
        evaluation.ifPresent(e -> metricsBuilder.setEvalLoss(e.loss()).setEvalAccuracy(e.accuracy())
                .setEvalPerplexity(e.perplexity()).setEvalTokens(e.tokens()));
        TrainingMetrics metrics = metricsBuilder.build();
        String key = Topics.runStepKey(model.runId(), step);
        byte[] metricsValue = AvroSerdes.trainingMetrics().serializer().serialize(null, metrics); // once: sent, kept
        context.forward(new Record<>(key, metricsValue, now.toEpochMilli()), metricsSink);
        model.recordEmitted(key, metrics, metricsValue);
        listener.onStep(metrics);
        evaluation.ifPresent(e -> evaluator.announce(e, listener));
        if (sampleEverySteps > 0 && step % sampleEverySteps == 0) {
            emitSamples(key, step, tokens.ids(), T);
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
     * The batch sample: prompt = the first {@code sample.prompt.tokens} ids of row 0, actual = the ids of row 0 that
     * follow; then the fixed prompt, if any, keyed {@code <run>/<step>/fixed-prompt} so that it does not replace the
     * batch sample of the same step.
     */
    private void emitSamples(String key, long step, int[] tokens, int T) {
        int promptLength = Math.min(samplePromptTokens, T);
        int actualLength = Math.min(sampleMaxNewTokens, T + 1 - promptLength);
        int[] prompt = Arrays.copyOfRange(tokens, 0, promptLength); // row 0 starts at 0
        emitSample(key, step, prompt, decode(tokens, promptLength, actualLength));
        if (fixedPrompt != null) {
            emitSample(key + "/fixed-prompt", step, fixedPrompt, "");
        }
    }

    private void emitSample(String key, long step, int[] prompt, String actual) {
        long sampleSeed = seed + step;
        int[] generated = model.generate(prompt, sampleMaxNewTokens, sampling, sampleSeed);
        Instant now = Instant.now();
        TextSample sample = TextSample.newBuilder()
                .setRunId(model.runId()).setStep(step).setTime(now)
                .setPrompt(decode(prompt, 0, prompt.length))
                .setGenerated(decode(generated, 0, generated.length))
                .setActual(actual)
                .setTemperature(sampling.temperature()).setTopK(sampling.topK())
                .setMaxNewTokens(sampleMaxNewTokens).setSeed(sampleSeed)
                .build();
        byte[] value = AvroSerdes.textSample().serializer().serialize(null, sample); // once: sent, kept
        context.forward(new Record<>(key, value, now.toEpochMilli()), samplesSink);
        model.recordEmitted(key, sample, value);
        listener.onSample(sample);
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

    private String decode(int[] ids, int offset, int length) {
        Tokenizer tokenizer = model.tokenizer();
        return tokenizer.decode(ids, offset, length);
    }
}
