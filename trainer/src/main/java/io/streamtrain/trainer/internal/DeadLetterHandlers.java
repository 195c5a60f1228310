package io.streamtrain.trainer.internal;

import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The trainer's Kafka Streams processing exception handler, on top of Kafka's dead-letter queue (KIP-1034,
 * {@code errors.dead.letter.queue.topic.name}): the record sent there holds the original key and value bytes and the
 * headers {@code __streams.errors.message} (our reason), {@code .exception}, {@code .stacktrace}, {@code .topic},
 * {@code .partition} and {@code .offset}. There is no deserialization handler: the source reads raw bytes and the
 * training step decodes each record at its own offset (a handler would run while the previous record is not yet
 * processed, and marking the bad offset handled there made the good record before it look like a replay).
 */
public final class DeadLetterHandlers {
    private static final Logger log = LoggerFactory.getLogger(DeadLetterHandlers.class);

    private DeadLetterHandlers() {}

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
