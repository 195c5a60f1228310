/** Test fixtures shared by the replay and exactly-once tests: a restartable in-process Kafka cluster and numbered token batches. */
package io.streamtrain.trainer.testing;
