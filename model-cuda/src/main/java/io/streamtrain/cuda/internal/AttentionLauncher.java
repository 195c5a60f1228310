package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code attention.cu}: fused causal attention (online softmax), on tensor cores for head
 * sizes up to 64 (from fp32 qkv, or from a bf16 copy streamed with cp.async where aligned; backward in one pass over
 * 64-key blocks, dq added with atomics), in fp32 for head sizes 65 to 128. 64 rows per block, one (b, h) per grid
 * row.
 */
public final class AttentionLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final Bf16Shadows bf16;
    private final CUfunction attentionForward, attentionBackwardQuery, attentionBackwardKeyValue;
    /** Tensor-core attention by padded head dim (16, 32, 64): [0] from fp32 qkv, [1] from a bf16 copy of it. */
    private final CUfunction[][] attentionForwardTc = new CUfunction[2][3];
    /** The one-pass tensor-core backward by padded head dim, as above. */
    private final CUfunction[][] attentionBackwardTc = new CUfunction[2][3];
    private final CUfunction attentionBackwardPreprocess;

    public AttentionLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Bf16Shadows bf16) {
        this.launcher = launcher;
        this.args = args;
        this.bf16 = bf16;
        attentionForward = kernels.function(KernelFamily.ATTENTION, "attention_forward_4");
        attentionBackwardQuery = kernels.function(KernelFamily.ATTENTION, "attention_backward_query_4");
        attentionBackwardKeyValue = kernels.function(KernelFamily.ATTENTION, "attention_backward_key_value_4");
        for (int source = 0; source < 2; source++) {
            for (int i = 0; i < 3; i++) {
                String suffix = (source == 0 ? "tc_" : "tc_bf16_") + (16 << i);
                attentionForwardTc[source][i] = kernels.function(KernelFamily.ATTENTION, "attention_forward_" + suffix);
                attentionBackwardTc[source][i] = kernels.function(KernelFamily.ATTENTION,
                        "attention_backward_" + suffix, backwardSharedBytes(16 << i));
            }
        }
        attentionBackwardPreprocess = kernels.function(KernelFamily.ATTENTION, "attention_backward_preprocess");
    }

    /**
     * Dynamic shared memory of the one-pass backward for padded head dim D: query and dout tiles (two each), the key
     * tile ([64][D + 8] bf16 each), dS^T ([64][72] bf16), and the log-sum-exp and D of two query tiles (floats).
     */
    static int backwardSharedBytes(int D) {
        return (5 * 64 * (D + 8) + 64 * 72) * 2 + 4 * 64 * 4;
    }

    /** Floats of the statistics forward keeps for backward. */
    public static long statisticsSize(int B, int T, int NH) {
        return 2L * B * NH * T;  // the log-sum-exp per query row, then backward's sum(dout * out) per row
    }

    /**
     * Which attention kernels serve head size C / NH: 0, 1, 2 the tensor-core kernels for head dims padded to 16,
     * 32 or 64; 3 the fp32 kernels (four threads per row) for head sizes 65 to 128.
     */
    private static int attentionVariant(int C, int NH, String kernel) {
        if (NH <= 0 || C % NH != 0) {
            throw new IllegalArgumentException(kernel + ": C = " + C + " is not a multiple of NH = " + NH);
        }
        int hs = C / NH;
        if (hs <= 16) {
            return 0;
        }
        if (hs <= 32) {
            return 1;
        }
        if (hs <= 64) {
            return 2;
        }
        if (hs <= 128) {
            return 3;
        }
        throw new IllegalArgumentException(kernel + ": head size C / NH = " + hs + " is over the 128 the fused "
                + "attention supports; use more heads");
    }

    /**
     * Whether the tensor-core attention reads bf16 copies of qkv and dout (made first, streamed into shared memory
     * with asynchronous copies): head size and C multiples of 8, tensors 16-byte aligned.
     */
    private static boolean attentionFromBf16(int C, int NH, CudaTensor a, CudaTensor b) {
        return (C / NH) % 8 == 0 && C % 8 == 0 && ((a.address() | b.address()) & 15) == 0;
    }

    /**
     * out (B, T, C) from qkv (B, T, 3C); stats (2, B, NH, T) keeps the log-sum-exp for backward; dropout p on the
     * attention weights with the mask of {@code key} (p = 0: none), inside the kernels.
     */
    public void forward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float dropout, long key) {
        int variant = attentionVariant(C, NH, "attentionForward");
        float scale = (float) (1.0 / Math.sqrt((double) C / NH));
        CudaTensor output = args.floats(out, (long) B * T * C, "attentionForward", "out");
        CudaTensor statistics = args.floats(stats, statisticsSize(B, T, NH), "attentionForward", "stats");
        CudaTensor input = args.floats(qkv, 3L * B * T * C, "attentionForward", "qkv");
        if (variant == 3) {
            launcher.begin().pointer(output).pointer(statistics).pointer(input).int32(B).int32(T).int32(C).int32(NH)
                    .float32(scale).int64(key).float32(dropout).launch(attentionForward, "attention_forward", blocks(T, 64), B * NH, 1, 256, 1, 0);
            return;
        }
        int source = attentionFromBf16(C, NH, input, input) ? 1 : 0;
        CudaTensor qkvIn = source == 1 ? bf16.operandTensor(input, 3L * B * T * C) : input;
        launcher.begin().pointer(output).pointer(statistics).pointer(qkvIn).int32(B).int32(T).int32(C).int32(NH)
                .float32(scale).int64(key).float32(dropout)
                .launch(attentionForwardTc[source][variant], "attention_forward_tc", blocks(T, 64), B * NH, 1, 128, 1,
                        0);
    }

    /**
     * dqkv (B, T, 3C) = the gradient of forward from dout (B, T, C), written. Head sizes up to 64: one pass over the
     * key tiles (dq zeroed by the preprocess kernel, then added into with atomics); 65 to 128: a dq kernel and a
     * dk, dv kernel (each element written by one block). With the forward's dropout p and {@code key}, whose mask the
     * kernels draw again.
     */
    public void backward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats, int B, int T, int C,
                         int NH, float dropout, long key) {
        int variant = attentionVariant(C, NH, "attentionBackward");
        float scale = (float) (1.0 / Math.sqrt((double) C / NH));
        CudaTensor gradQkv = args.floats(dqkv, 3L * B * T * C, "attentionBackward", "dqkv");
        CudaTensor gradOut = args.floats(dout, (long) B * T * C, "attentionBackward", "dout");
        CudaTensor input = args.floats(qkv, 3L * B * T * C, "attentionBackward", "qkv");
        CudaTensor statistics = args.floats(stats, statisticsSize(B, T, NH), "attentionBackward", "stats");
        long rows = (long) B * NH * T;
        launcher.begin().pointer(statistics).pointer(gradQkv).pointer(gradOut)
                .pointer(args.floats(out, (long) B * T * C, "attentionBackward", "out"))
                .int32(B).int32(T).int32(C).int32(NH)
                .launch(attentionBackwardPreprocess, "attention_backward_preprocess", blocks(rows, 8), 1, 1, 256, 1, 0);
        if (variant == 3) {
            backwardKernel(attentionBackwardQuery, "attention_backward_query", gradQkv, gradOut, input, statistics,
                    B, T, C, NH, scale, dropout, key, 256, 0);
            backwardKernel(attentionBackwardKeyValue, "attention_backward_key_value", gradQkv, gradOut, input,
                    statistics, B, T, C, NH, scale, dropout, key, 256, 0);
            return;
        }
        int source = attentionFromBf16(C, NH, input, gradOut) ? 1 : 0;
        CudaTensor qkvIn = source == 1 ? bf16.operandTensor(input, 3L * B * T * C) : input;
        CudaTensor doutIn = source == 1 ? bf16.operandTensor(gradOut, (long) B * T * C) : gradOut;
        backwardKernel(attentionBackwardTc[source][variant], "attention_backward_tc", gradQkv, doutIn, qkvIn,
                statistics, B, T, C, NH, scale, dropout, key, 128, backwardSharedBytes(16 << variant));
    }

    /**
     * One backward kernel over (T / 64, B * NH) blocks: (dqkv, dout, qkv, stats, B, T, C, NH, scale, key, dropout).
     */
    private void backwardKernel(CUfunction function, String name, CudaTensor dqkv, CudaTensor dout, CudaTensor qkv,
                                CudaTensor stats, int B, int T, int C, int NH, float scale, float dropout, long key,
                                int threads, int sharedBytes) {
        launcher.begin().pointer(dqkv).pointer(dout).pointer(qkv).pointer(stats)
                .int32(B).int32(T).int32(C).int32(NH).float32(scale).int64(key).float32(dropout)
                .launch(function, name, blocks(T, 64), B * NH, 1, threads, 1, sharedBytes);
    }
}
