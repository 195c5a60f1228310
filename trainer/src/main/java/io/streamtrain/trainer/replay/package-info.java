/** Replay: move a stopped trainer to an input position (offsets, a time, earliest) with its checkpoint aligned, and describe checkpoints. */
package io.streamtrain.trainer.replay;
