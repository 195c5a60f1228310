/** Device memory views, kernel argument packing, PTX loading and driver-call checks behind {@link io.streamtrain.cuda.CudaKernels}. */
package io.streamtrain.cuda.internal;
