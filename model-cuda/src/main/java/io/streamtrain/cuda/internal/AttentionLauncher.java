package io.streamtrain.cuda.internal;

import static io.streamtrain.cuda.internal.Grid.blocks;

import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/**
 * Launches the kernels of {@code attention.cu}: fused causal attention (online softmax), on tensor cores for head
 * sizes up to 64 (from fp32 qkv, or from a bf16 copy streamed with cp.async where aligned), in fp32 for head sizes
 * 65 to 128. 64 query rows per block, one (b, h) per grid row.
 */
public final class AttentionLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final Bf16Scratch bf16;
    private final CUfunction attentionForward, attentionBackwardQuery, attentionBackwardKeyValue;
    /** Tensor-core attention by padded head dim (16, 32, 64): [0] from fp32 qkv, [1] from a bf16 copy of it. */
    private final CUfunction[][] attentionForwardTc = new CUfunction[2][3];
    private final CUfunction[][] attentionBackwardQueryTc = new CUfunction[2][3];
    private final CUfunction[][] attentionBackwardKeyValueTc = new CUfunction[2][3];
    private final CUfunction attentionBackwardPreprocess;

    public AttentionLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args, Bf16Scratch bf16) {
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
                attentionBackwardQueryTc[source][i] = kernels.function(KernelFamily.ATTENTION,
                        "attention_backward_query_" + suffix);
                attentionBackwardKeyValueTc[source][i] = kernels.function(KernelFamily.ATTENTION,
                        "attention_backward_key_value_" + suffix);
            }
        }
        attentionBackwardPreprocess = kernels.function(KernelFamily.ATTENTION, "attention_backward_preprocess");
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
        CudaTensor qkvIn = source == 1 ? bf16.convert(3, input, 3L * B * T * C) : input;
        launcher.begin().pointer(output).pointer(statistics).pointer(qkvIn).int32(B).int32(T).int32(C).int32(NH)
                .float32(scale).int64(key).float32(dropout)
                .launch(attentionForwardTc[source][variant], "attention_forward_tc", blocks(T, 64), B * NH, 1, 128, 1,
                        0);
    }

    /**
     * dqkv (B, T, 3C) = the gradient of forward from dout (B, T, C), written (each element by one block); with the
     * forward's dropout p and {@code key}, whose mask the kernels draw again.
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
        launcher.begin().pointer(statistics).pointer(gradOut)
                .pointer(args.floats(out, (long) B * T * C, "attentionBackward", "out"))
                .int32(B).int32(T).int32(C).int32(NH)
                .launch(attentionBackwardPreprocess, "attention_backward_preprocess", blocks(rows, 8), 1, 1, 256, 1, 0);
        CUfunction query;
        CUfunction keyValue;
        int threads;
        CudaTensor qkvIn = input;
        CudaTensor doutIn = gradOut;
        if (variant == 3) {
            query = attentionBackwardQuery;
            keyValue = attentionBackwardKeyValue;
            threads = 256;
        } else {
            int source = attentionFromBf16(C, NH, input, gradOut) ? 1 : 0;
            if (source == 1) {
                qkvIn = bf16.convert(3, input, 3L * B * T * C);
                doutIn = bf16.convert(4, gradOut, (long) B * T * C);
            }
            query = attentionBackwardQueryTc[source][variant];
            keyValue = attentionBackwardKeyValueTc[source][variant];
            threads = 128;
        }
        launcher.begin().pointer(gradQkv).pointer(doutIn).pointer(qkvIn).pointer(statistics)
                .int32(B).int32(T).int32(C).int32(NH).float32(scale).int64(key).float32(dropout)
                .launch(query, "attention_backward_query", blocks(T, 64), B * NH, 1, threads, 1, 0);
        launcher.begin().pointer(gradQkv).pointer(doutIn).pointer(qkvIn).pointer(statistics)
                .int32(B).int32(T).int32(C).int32(NH).float32(scale).int64(key).float32(dropout)
                .launch(keyValue, "attention_backward_key_value", blocks(T, 64), B * NH, 1, threads, 1, 0);
    }
}
