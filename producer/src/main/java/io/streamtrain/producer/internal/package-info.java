/** Readers, parallel tokenization, packing, publishing and progress behind {@link io.streamtrain.producer.DocumentProducer}. */
package io.streamtrain.producer.internal;
