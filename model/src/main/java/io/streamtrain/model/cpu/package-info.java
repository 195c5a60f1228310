/** The CPU backend: every {@link io.streamtrain.model.Kernels} kernel as multithreaded Java loops, one file per family. */
package io.streamtrain.model.cpu;
