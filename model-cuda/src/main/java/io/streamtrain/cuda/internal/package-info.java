/**
 * Behind {@link io.streamtrain.cuda.CudaKernels}: one launcher per kernel family, named after its CUDA C file
 * ({@code EncoderLauncher} for {@code encoder.cu}, ...; the families are listed once, in {@code KernelFamily}),
 * device setup, the step-graph policy, device memory views, kernel argument packing, PTX loading and driver-call
 * checks.
 */
package io.streamtrain.cuda.internal;
