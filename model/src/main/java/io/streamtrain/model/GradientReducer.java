package io.streamtrain.model;

/**
 * How the replicas of a data-parallel model combine their gradients: one instance per replica (a rank of the
 * world), called by {@link Gpt#trainStep(int[], int, int, int, GradientReducer)} between backward and the update.
 * {@link InProcessReducer} sums CPU replicas of one process in a fixed order; the CUDA module's NCCL reducer sums
 * GPU replicas on the devices.
 */
public interface GradientReducer {

    /** Replicas in the world, this one included (1: the sum is the buffer itself). */
    int worldSize();

    /** This replica's index in [0, {@link #worldSize()}). */
    int rank();

    /**
     * Replaces {@code buffer} (memory of {@code kernels}) with its element-wise sum over every replica of the world.
     * Every replica calls it the same number of times with buffers of the same size. A device reducer enqueues the
     * sum on the kernels' stream after the work before it and returns; a host reducer may wait for the others.
     *
     * @throws IllegalStateException when another replica failed or the world was closed while waiting
     */
    void allReduceSum(Kernels kernels, Tensor buffer);

    /**
     * Host time this replica has spent in {@link #allReduceSum} since it was made, in nanoseconds, the wait for the
     * other replicas included (what a slow replica costs the others shows here); -1 when the reducer does not measure
     * it, as a device reducer whose sum runs on the stream after the call has returned (its time is in the step's).
     */
    default long reduceNanos() {
        return -1;
    }
}
