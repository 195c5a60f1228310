/** Single-object-encoding serde machinery and the released-schema history behind {@link io.streamtrain.schemas.AvroSerdes}. */
package io.streamtrain.schemas.internal;
