package io.streamtrain.cli.bench;

import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.model.Kernels;

/**
 * Host synchronisations a backend has made so far, for {@code host_syncs_per_step}: the CUDA backend counts every
 * wait of the host for the device. The CPU has no device to wait for (0 by definition). Any other backend does not
 * count: -1.
 */
final class HostSyncs {
    private HostSyncs() {}

    static long count(Kernels kernels) {
        if (kernels instanceof CudaKernels cuda) {
            return cuda.hostSynchronizations();
        }
        return kernels.backendName().equals("cpu") ? 0 : -1;
    }
}
