/** Test fixtures shared by the replay and exactly-once tests: numbered token batches (the broker: TestKafka). */
package io.streamtrain.trainer.testing;
