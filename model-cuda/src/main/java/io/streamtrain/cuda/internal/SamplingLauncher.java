package io.streamtrain.cuda.internal;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import jcuda.driver.CUfunction;

/** Launches the kernels of {@code sampling.cu}: one position of attention against the KV cache, and a token's draw. */
public final class SamplingLauncher {
    private final Launcher launcher;
    private final TensorChecks args;
    private final CUfunction attentionDecode, sample;

    public SamplingLauncher(KernelLookup kernels, Launcher launcher, TensorChecks args) {
        this.launcher = launcher;
        this.args = args;
        attentionDecode = kernels.function(KernelFamily.SAMPLING, "attention_decode");
        sample = kernels.function(KernelFamily.SAMPLING, "sample");
    }

    /** out (C) = attention of q (C) over kcache and vcache (position + 1, C): one block per head. */
    public void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH) {
        long cached = (long) (position + 1) * C;
        int shared = 4 * (position + 1);
        if (shared > 48 * 1024) {
            throw new IllegalArgumentException("attentionDecode: position " + position + " is over the 12287 this "
                    + "kernel supports");
        }
        launcher.begin().pointer(args.floats(out, C, "attentionDecode", "out")).pointer(args.floats(q, C, "attentionDecode", "q"))
                .pointer(args.floats(kcache, cached, "attentionDecode", "kcache"))
                .pointer(args.floats(vcache, cached, "attentionDecode", "vcache")).int32(position).int32(C).int32(NH)
                .launch(attentionDecode, "attention_decode", NH, 1, 1, 256, 1, shared);
    }

    /** out (1) = the id drawn from logits (V) with coin (1), as {@code Kernels.sample} says: one block of 1024 threads. */
    public void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V) {
        if (!(temperature >= 0f)) {
            throw new IllegalArgumentException("sample: temperature must be 0 (greedy) or positive, got "
                    + temperature);
        }
        launcher.begin().pointer(args.ints(out, 1, "sample", "out")).pointer(args.floats(logits, V, "sample", "logits"))
                .pointer(args.floats(coin, 1, "sample", "coin")).float32(temperature).int32(topK).int32(V)
                .launch(sample, "sample", 1, 1, 1, 1024, 1, 0);
    }
}
