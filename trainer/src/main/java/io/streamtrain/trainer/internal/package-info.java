/** Trainer internals: the training-step processor, batch validation, dead-letter handlers, checkpoint rotation, the records a checkpoint carries for a restart to re-send, the Admin calls around the consumer group and the metrics endpoint. */
package io.streamtrain.trainer.internal;
