package io.streamtrain.cuda.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernel of {@code crossentropy.cu}: the fused softmax cross-entropy, its gradient in place if asked. Each
 * row of logits is read from device memory once for the softmax; for the gradient, its first part is kept in shared
 * memory (up to half of what a block may have, so that two blocks share an SM), the rest read again (from L2 mostly:
 * a whole gpt2 row staged, one block per SM, took 1.27 ms per step on the H200, half of it 0.92 ms). Where
 * {@link Bf16Shadows} keeps a bf16 copy of the gradient for the output head's products, the gradient goes into the
 * copy alone ({@link Bf16Shadows#forCopyOnlyProducer}: converted back if anything reads it as float32), else into the
 * float32 tensor.
 */
public final class CrossEntropyLauncher {
    /** Shared memory the kernel keeps for itself (its reductions) and the 1 KB the device reserves, per block. */
    private static final int STATIC_SHARED_BYTES = 2048;
    /** Rows of up to this many logits take blocks of 256 threads, longer ones 1024. */
    private static final int SHORT_ROW = 16384;

    private final Launcher launcher;
    private final TensorChecks args;
    private final Bf16Shadows shadows;
    private final CUfunction softmaxCrossEntropy;
    private final int stagedBytesLimit;

    public CrossEntropyLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                                Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        this.stagedBytesLimit = Math.max(0, grid.sharedBytesPerBlock() / 2 - STATIC_SHARED_BYTES) & ~15;
        softmaxCrossEntropy = kernels.function(KernelFamily.CROSSENTROPY, "softmax_cross_entropy", stagedBytesLimit);
    }

    /**
     * losses (N), correct (N) and, when backward, dlogits (N, Vp) (which may be logits itself) from logits (N, Vp)
     * and targets (N): one block per position.
     */
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        if (V > Vp) {
            throw new IllegalArgumentException("softmaxCrossEntropy: V = " + V + " is larger than Vp = " + Vp);
        }
        CudaTensor input = args.floats(logits, (long) N * Vp, "softmaxCrossEntropy", "logits");
        CudaTensor gradient = backward ? args.floats(dlogits, (long) N * Vp, "softmaxCrossEntropy", "dlogits") : null;
        long gradientBf16 = backward ? shadows.forCopyOnlyProducer(gradient, (long) N * Vp) : 0L;
        CudaTensor gradientFloats = gradientBf16 != 0L ? null : gradient;
        long addresses = input.address() | (gradient == null ? 0L : gradient.address());
        boolean vector = Vp % 4 == 0 && (addresses & 15) == 0 && (gradientBf16 & 7) == 0;
        int staged = backward ? Math.min((V + 3) & ~3, stagedBytesLimit / 4) : 0;
        launcher.begin().pointer(args.floats(losses, N, "softmaxCrossEntropy", "losses"))
                .pointer(args.floats(correct, N, "softmaxCrossEntropy", "correct")).pointer(gradientFloats)
                .int64(gradientBf16).pointer(input)
                .pointer(args.ints(targets, N, "softmaxCrossEntropy", "targets")).float32(dlossScale)
                .int32(backward ? 1 : 0)
                .int32(N).int32(V).int32(Vp).int32(staged).int32(vector ? 1 : 0)
                .launch(softmaxCrossEntropy, "softmax_cross_entropy", N, 1, 1, V <= SHORT_ROW ? 256 : 1024, 1,
                        4 * staged);
    }
}
