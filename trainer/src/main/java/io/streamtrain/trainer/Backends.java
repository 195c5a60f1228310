package io.streamtrain.trainer;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.cpu.CpuKernels;
import java.io.PrintStream;

/** Opens the backend a model lives in: {@code cpu}, {@code cuda}, or {@code auto} (CUDA when usable, else CPU). */
public final class Backends {
    private Backends() {}

    /** {@link #open(String, int, PrintStream)} with every available processor for the CPU backend. */
    public static Kernels open(String backend, PrintStream log) {
        return open(backend, 0, log);
    }

    /**
     * @param backend    {@code auto}, {@code cpu} or {@code cuda}
     * @param cpuThreads threads of the CPU backend; 0 = every available processor
     * @param log        where the choice is reported: the device, and for auto on the CPU why CUDA was not used
     * @throws IllegalArgumentException for an unknown backend name
     * @throws IllegalStateException    for {@code cuda} when no usable CUDA device exists, with the reason
     */
    public static Kernels open(String backend, int cpuThreads, PrintStream log) {
        switch (backend) {
            case "cpu": {
                Kernels kernels = cpu(cpuThreads);
                log.println("backend: cpu (" + kernels.deviceName() + ")");
                return kernels;
            }
            case "cuda": {
                CudaDevice device = CudaDevice.probe();
                if (!device.available()) {
                    throw new IllegalStateException("backend cuda requested but CUDA cannot be used: "
                            + device.reason());
                }
                Kernels kernels = CudaKernels.open();
                log.println("backend: cuda (" + describe(device) + ")");
                return kernels;
            }
            case "auto": {
                CudaDevice device = CudaDevice.probe();
                if (device.available()) {
                    Kernels kernels = CudaKernels.open();
                    log.println("backend: auto chose cuda (" + describe(device) + ")");
                    return kernels;
                }
                Kernels kernels = cpu(cpuThreads);
                log.println("backend: auto chose cpu (" + kernels.deviceName() + ") because CUDA cannot be used: "
                        + device.reason());
                return kernels;
            }
            default:
                throw new IllegalArgumentException("unknown backend '" + backend + "': choose auto, cpu or cuda");
        }
    }

    private static String describe(CudaDevice device) {
        return String.format("%s, device %d, compute %d.%d, %.0f GiB", device.name(), device.ordinal(),
                device.computeMajor(), device.computeMinor(), device.memoryBytes() / (double) (1L << 30));
    }

    private static Kernels cpu(int threads) {
        return threads > 0 ? new CpuKernels(threads) : CpuKernels.create();
    }
}
