/** Documents (files, directories, stdin; text, JSON Lines, gzip) to packed token batches published to Kafka. */
package io.streamtrain.producer;
