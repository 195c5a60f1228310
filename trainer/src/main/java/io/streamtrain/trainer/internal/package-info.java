/** Trainer internals: the training-step processor, batch validation, dead-letter handlers, checkpoint rotation and the metrics endpoint. */
package io.streamtrain.trainer.internal;
