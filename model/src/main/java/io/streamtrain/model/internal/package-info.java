/**
 * Implementation details of the model: parameter buffers and views, activation layout, the batch passes (forward,
 * zero-grad, backward), single-position decoding, token checks, random numbers and the safetensors file format.
 */
package io.streamtrain.model.internal;
