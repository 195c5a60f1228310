/**
 * Internals of the CPU backend: one file per kernel family, named after the family's CUDA source
 * ({@code Encoder}, {@code Layernorm}, {@code Matmul}, {@code Attention}, {@code GeluResidual},
 * {@code CrossEntropy}, {@code Adamw}, {@code Sampling}), the vectorized loops they share ({@code MicroKernel},
 * {@code Exp}), array-backed tensor views and the worker pool that splits kernels over threads.
 */
package io.streamtrain.model.cpu.internal;
