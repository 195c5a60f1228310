package io.streamtrain.trainer.world.internal;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.cuda.CudaKernels;
import io.streamtrain.cuda.Nccl;
import io.streamtrain.cuda.NcclReducer;
import io.streamtrain.model.GradientReducer;
import io.streamtrain.model.Kernels;
import io.streamtrain.trainer.Backends;
import io.streamtrain.trainer.TrainerConfig;
import java.io.PrintStream;
import java.time.Duration;

/**
 * Where a rank computes and how it sums gradients with the others: GPU {@code rank mod the host's GPUs} with NCCL,
 * or the CPU with the world's sockets.
 *
 * @param kernels   the rank's backend (the model closes it)
 * @param gradients the all-reduce of the gradients
 */
public record RankBackend(Kernels kernels, GradientReducer gradients) implements AutoCloseable {

    /** Whether {@code backend} (cuda, cpu or auto) means a GPU here. */
    public static boolean useCuda(String backend) {
        return switch (backend) {
            case "cuda" -> true;
            case "cpu" -> false;
            default -> CudaDevice.probe().available();
        };
    }

    /**
     * The backend of the rank of {@code joined}: on a GPU when {@code cuda} (NCCL's initialisation bounded by
     * world.timeout.ms), else on the configured CPU threads.
     */
    public static RankBackend open(boolean cuda, int rank, WorldJoin joined, TrainerConfig config, PrintStream log) {
        if (!cuda) {
            return new RankBackend(Backends.open("cpu", config.cpuThreads(), log), joined.link());
        }
        int gpus = CudaDevice.count();
        CudaKernels device = CudaKernels.open(rank % gpus);
        NcclReducer nccl;
        try {
            nccl = NcclReducer.initRank(Nccl.load(), device, joined.world().ncclId(), joined.world().worldSize(), rank,
                    Duration.ofMillis(config.worldTimeoutMillis()));
        } catch (IllegalStateException e) {
            device.close();
            throw new IllegalStateException("world '" + config.applicationId() + "' (generation "
                    + joined.world().generation() + "): " + e.getMessage() + " (" + TrainerConfig.WORLD_TIMEOUT_MS
                    + " bounds the wait)", e);
        }
        log.println("rank " + rank + ": GPU " + rank % gpus + " (" + device.deviceName() + "), NCCL");
        return new RankBackend(device, nccl);
    }

    /** Releases the NCCL communicator, if any (not the kernels, nor the sockets). */
    @Override
    public void close() {
        if (gradients instanceof NcclReducer nccl) {
            nccl.close();
        }
    }
}
