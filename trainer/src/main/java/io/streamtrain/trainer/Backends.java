package io.streamtrain.trainer;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.cuda.Nccl;
import io.streamtrain.cuda.NcclReducer;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.InProcessReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.cpu.CpuKernels;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

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
                CudaDevice device = requireUsable(backend).orElseThrow();
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

    /**
     * Checks, before anything is started or written, that {@code backend} can be used: for {@code cuda}, that a usable
     * CUDA device exists (then it is returned); {@code cpu} and {@code auto} always can.
     *
     * @throws IllegalStateException for {@code cuda} when no usable CUDA device exists, with the reason
     */
    public static Optional<CudaDevice> requireUsable(String backend) {
        if (!backend.equals("cuda")) {
            return Optional.empty();
        }
        CudaDevice device = CudaDevice.probe();
        if (!device.available()) {
            throw new IllegalStateException("backend cuda requested but CUDA cannot be used: " + device.reason());
        }
        return Optional.of(device);
    }

    /**
     * The kernels and reducers of {@code replicas} data-parallel replicas in this process: on {@code cuda}, GPUs 0 to
     * N-1 with an NCCL world ({@link Nccl#load}); on {@code cpu}, N CPU backends sharing the threads (cpuThreads, or
     * every processor, divided by N, at least one each) with an {@link InProcessReducer} world; {@code auto} is cuda
     * when a usable GPU exists.
     *
     * @throws IllegalStateException when fewer usable GPUs than replicas exist, or NCCL cannot be loaded (saying why)
     */
    public static Replicas openReplicas(String backend, int cpuThreads, int replicas, PrintStream log) {
        if (replicas < 1) {
            throw new IllegalArgumentException("replicas must be at least 1, got " + replicas);
        }
        boolean cuda = switch (backend) {
            case "cpu" -> false;
            case "cuda" -> true;
            case "auto" -> CudaDevice.probe().available();
            default -> throw new IllegalArgumentException("unknown backend '" + backend + "': choose auto, cpu or cuda");
        };
        List<Kernels> kernels = new ArrayList<>();
        if (!cuda) {
            int threads = Math.max(1, (cpuThreads > 0 ? cpuThreads : Runtime.getRuntime().availableProcessors())
                    / replicas);
            for (int r = 0; r < replicas; r++) {
                kernels.add(new CpuKernels(threads));
            }
            log.println("backend: cpu, " + replicas + " replicas of " + kernels.get(0).deviceName()
                    + ", gradients summed in process in rank order");
            return new Replicas(kernels, InProcessReducer.world(replicas));
        }
        int gpus = CudaDevice.count();
        if (gpus < replicas) {
            CudaDevice first = CudaDevice.probe();
            throw new IllegalStateException(replicas + " replicas on the GPU need " + replicas + " usable GPUs, this"
                    + " machine has " + gpus + (gpus == 0 ? " (" + first.reason() + ")" : "")
                    + "; lower --replicas, or use --backend cpu for CPU replicas");
        }
        Nccl nccl = Nccl.load();
        List<CudaKernels> devices = new ArrayList<>();
        try {
            for (int g = 0; g < replicas; g++) {
                devices.add(CudaKernels.open(g));
            }
            List<NcclReducer> reducers = NcclReducer.initAll(nccl, devices);
            log.println("backend: cuda, " + replicas + " replicas on GPUs 0-" + (replicas - 1) + " ("
                    + describe(devices.get(0).device()) + "), gradients all-reduced by " + nccl);
            kernels.addAll(devices);
            return new Replicas(kernels, reducers);
        } catch (RuntimeException e) {
            devices.forEach(CudaKernels::close);
            throw e;
        }
    }

    /** The kernels of data-parallel replicas and their reducers, rank by rank. */
    public record Replicas(List<Kernels> kernels, List<? extends GradientReducer> reducers) {
    }

    private static String describe(CudaDevice device) {
        return String.format("%s, device %d, compute %d.%d, %.0f GiB", device.name(), device.ordinal(),
                device.computeMajor(), device.computeMinor(), device.memoryBytes() / (double) (1L << 30));
    }

    private static Kernels cpu(int threads) {
        return threads > 0 ? new CpuKernels(threads) : CpuKernels.create();
    }
}
