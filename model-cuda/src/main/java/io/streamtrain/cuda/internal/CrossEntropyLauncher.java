package io.streamtrain.cuda.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernel of {@code crossentropy.cu}: the fused softmax cross-entropy, its gradient in place if asked, with
 * the bf16 copy of the gradient that {@link Bf16Shadows} keeps for the output head's products, where it keeps one.
 */
public final class CrossEntropyLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final Bf16Shadows shadows;
    private final CUfunction softmaxCrossEntropy;

    public CrossEntropyLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Bf16Shadows shadows) {
        this.launcher = launcher;
        this.shadows = shadows;
        this.args = args;
        softmaxCrossEntropy = kernels.function(KernelFamily.CROSSENTROPY, "softmax_cross_entropy");
    }

    /**
     * losses (N), correct (N) and, when backward, dlogits (N, Vp) (which may be logits itself) from logits (N, Vp)
     * and targets (N): one block of 512 threads per position.
     */
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        if (V > Vp) {
            throw new IllegalArgumentException("softmaxCrossEntropy: V = " + V + " is larger than Vp = " + Vp);
        }
        CudaTensor input = args.floats(logits, (long) N * Vp, "softmaxCrossEntropy", "logits");
        CudaTensor gradient = backward ? args.floats(dlogits, (long) N * Vp, "softmaxCrossEntropy", "dlogits") : null;
        long gradientBf16 = backward ? shadows.forProducer(gradient, (long) N * Vp) : 0L;
        launcher.begin().pointer(args.floats(losses, N, "softmaxCrossEntropy", "losses"))
                .pointer(args.floats(correct, N, "softmaxCrossEntropy", "correct")).pointer(gradient)
                .int64(gradientBf16).pointer(input)
                .pointer(args.ints(targets, N, "softmaxCrossEntropy", "targets")).float32(dlossScale)
                .int32(backward ? 1 : 0)
                .int32(N).int32(V).int32(Vp)
                .launch(softmaxCrossEntropy, "softmax_cross_entropy", N, 1, 1, 512, 1, 0);
    }
}
