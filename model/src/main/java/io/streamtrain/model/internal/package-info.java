/** Implementation details of the model: activation layout, random numbers and the safetensors file format. */
package io.streamtrain.model.internal;
