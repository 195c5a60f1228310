/** The CPU reference backend: every {@link io.streamtrain.model.Kernels} kernel as plain, multithreaded Java loops. */
package io.streamtrain.model.cpu;
