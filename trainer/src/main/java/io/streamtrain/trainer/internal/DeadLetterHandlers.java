package io.streamtrain.trainer.internal;

import io.streamtrain.trainer.DeadLetterReason;
import io.streamtrain.trainer.ResidentModel;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The two Kafka Streams exception handlers of the trainer, both on top of Kafka's dead-letter queue (KIP-1034,
 * {@code errors.dead.letter.queue.topic.name}): the record sent there holds the original key and value bytes and the
 * headers {@code __streams.errors.message} (our reason), {@code .exception}, {@code .stacktrace}, {@code .topic},
 * {@code .partition} and {@code .offset}. Both then continue with the next record.
 */
public final class DeadLetterHandlers {
    /** Config key under which the trainer passes its {@link ResidentModel} to the handlers (an object, not a string). */
    public static final String MODEL_CONFIG = "streamtrain.trainer.resident.model";

    private static final Logger log = LoggerFactory.getLogger(DeadLetterHandlers.class);

    private DeadLetterHandlers() {}

    /**
     * Bytes that are not a TokenBatch: dead-lettered with reason {@link DeadLetterReason#NOT_A_TOKEN_BATCH}, unless
     * the model already handled their offset (a replay after a restart: skipped, counted, not sent again).
     */
    public static final class Deserialization extends LogAndContinueExceptionHandler {
        private ResidentModel model;

        @Override
        public void configure(Map<String, ?> configs) {
            super.configure(configs);
            model = (ResidentModel) configs.get(MODEL_CONFIG);
            if (model == null) {
                throw new IllegalStateException(MODEL_CONFIG + " is missing from the Kafka Streams properties: build"
                        + " them with TrainerTopology.streamsProperties");
            }
        }

        @Override
        public Response handleError(ErrorHandlerContext context, ConsumerRecord<byte[], byte[]> record,
                                    Exception exception) {
            TopicPartition partition = new TopicPartition(record.topic(), record.partition());
            if (model.alreadyHandled(partition, record.offset())) {
                model.meters().recordSkippedReplay();
                return Response.resume();
            }
            String message = DeadLetterReason.NOT_A_TOKEN_BATCH.code() + ": " + exception.getMessage();
            model.recordDeadLetter(partition, record.offset(), DeadLetterReason.NOT_A_TOKEN_BATCH, message);
            return super.handleError(context, record, new SerializationException(message, exception));
        }
    }

    /**
     * A {@link BadBatchException} from the training step: dead-lettered with its message, then continue. Any other
     * exception is a fault of the trainer, not of the record: fail, so that nothing is skipped silently.
     */
    public static final class Processing extends LogAndContinueProcessingExceptionHandler {
        @Override
        public Response handleError(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
            for (Throwable cause = exception; cause != null; cause = cause.getCause()) {
                if (cause instanceof BadBatchException badBatch) {
                    return super.handleError(context, record, badBatch);
                }
            }
            log.error("training step failed on {}-{}@{} for a reason other than the batch; stopping", context.topic(),
                    context.partition(), context.offset(), exception);
            return Response.fail();
        }
    }
}
