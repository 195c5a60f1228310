/** The GPT's kernels on an NVIDIA GPU through the CUDA driver API (JCuda), with our own kernels shipped as PTX. */
package io.streamtrain.cuda;
