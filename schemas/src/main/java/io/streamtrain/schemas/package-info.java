/** The wire contract: Avro records (token batches, training metrics, text samples), their Kafka serdes and topic names. */
package io.streamtrain.schemas;
