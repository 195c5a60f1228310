package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.ELEMENTWISE_THREADS;
import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/** Launches the kernels of {@code encoder.cu}: token plus position embeddings and their backward scatter-add. */
public final class EncoderLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final CUfunction forward;
    private final CUfunction backwardWpe;
    private final CUfunction backwardWte;

    public EncoderLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args) {
        this.launcher = launcher;
        this.args = args;
        forward = kernels.function(KernelFamily.ENCODER, "encoder_forward");
        backwardWpe = kernels.function(KernelFamily.ENCODER, "encoder_backward_wpe");
        backwardWte = kernels.function(KernelFamily.ENCODER, "encoder_backward_wte");
    }

    /** out (B, T, C) = wte[tokens] + wpe[t]; tokens (B, T), wte (Vp, C), wpe (>=T, C). */
    public void forward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        long n = (long) B * T * C;
        launcher.begin().pointer(args.floats(out, n, "encoderForward", "out")).pointer(args.ints(tokens, (long) B * T,
                        "encoderForward", "tokens")).pointer(args.floats(wte, C, "encoderForward", "wte"))
                .pointer(args.floats(wpe, (long) T * C, "encoderForward", "wpe")).int32(B).int32(T).int32(C)
                .launch(forward, "encoder_forward", blocks(n, ELEMENTWISE_THREADS), 1, 1, ELEMENTWISE_THREADS, 1, 0);
    }

    /** dwte (Vp, C) and dwpe (T, C) accumulate dout (B, T, C) at the rows that tokens (B, T) and t select. */
    public void backward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        long n = (long) B * T * C;
        CudaTensor gradOut = args.floats(dout, n, "encoderBackward", "dout");
        launcher.begin().pointer(args.floats(dwpe, (long) T * C, "encoderBackward", "dwpe")).pointer(gradOut)
                .int32(B).int32(T).int32(C)
                .launch(backwardWpe, "encoder_backward_wpe", blocks((long) T * C, ELEMENTWISE_THREADS), 1, 1,
                        ELEMENTWISE_THREADS, 1, 0);
        launcher.begin().pointer(args.floats(dwte, C, "encoderBackward", "dwte")).pointer(gradOut)
                .pointer(args.ints(tokens, (long) B * T, "encoderBackward", "tokens")).int32(B).int32(T).int32(C)
                .launch(backwardWte, "encoder_backward_wte", blocks(n, ELEMENTWISE_THREADS), 1, 1,
                        ELEMENTWISE_THREADS, 1, 0);
    }
}
