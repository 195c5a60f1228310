/** Internals of the CPU backend: array-backed tensor views and the worker pool that splits kernels over threads. */
package io.streamtrain.model.cpu.internal;
