/** A world of trainer processes, one rank each: rendezvous on a Kafka control topic, the all-reduce between them. */
package io.streamtrain.trainer.world;
