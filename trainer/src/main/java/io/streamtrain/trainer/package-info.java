/** The trainer: a Kafka Streams application that feeds token batches to one resident GPT and publishes metrics and samples. */
package io.streamtrain.trainer;
