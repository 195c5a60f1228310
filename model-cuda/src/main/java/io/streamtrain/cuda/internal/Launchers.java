package io.streamtrain.cuda.internal;

import java.util.function.LongFunction;

/** One launcher per {@link KernelFamily}, each with its kernels found once, when made. */
public record Launchers(EncoderLauncher encoder, LayernormLauncher layernorm, MatmulLauncher matmul,
                        AttentionLauncher attention, GeluResidualLauncher geluResidual,
                        CrossEntropyLauncher crossEntropy, AdamwLauncher adamw, SamplingLauncher sampling) {

    /**
     * Every launcher, its kernels found through {@code kernels}; launches go through {@code launcher}, arguments are
     * checked by {@code args}, and {@code allocate} makes the float32 scratch memory some of them keep.
     */
    public static Launchers create(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                                   LongFunction<CudaTensor> allocate) {
        Bf16Scratch bf16 = new Bf16Scratch(kernels, launcher, grid, allocate);
        AdamwLauncher adamw = new AdamwLauncher(kernels, launcher, args, grid, allocate);
        return new Launchers(new EncoderLauncher(kernels, launcher, args),
                new LayernormLauncher(kernels, launcher, args, grid),
                new MatmulLauncher(kernels, launcher, args, grid, bf16, allocate, adamw),
                new AttentionLauncher(kernels, launcher, args, bf16),
                new GeluResidualLauncher(kernels, launcher, args),
                new CrossEntropyLauncher(kernels, launcher, args),
                adamw,
                new SamplingLauncher(kernels, launcher, args));
    }
}
