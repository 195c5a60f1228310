/** Exactly-once training across SIGKILLs and a broker restart, in the style of Kafka's EosTestDriver: driver, child-JVM trainer, verifier. */
package io.streamtrain.trainer.eos;
