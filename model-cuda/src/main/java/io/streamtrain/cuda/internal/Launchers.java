package io.streamtrain.cuda.internal;

import java.util.function.LongFunction;

/** One launcher per {@link KernelFamily}, each with its kernels found once, when made. */
public record Launchers(EncoderLauncher encoder, LayernormLauncher layernorm, MatmulLauncher matmul,
                        AttentionLauncher attention, GeluResidualLauncher geluResidual,
                        CrossEntropyLauncher crossEntropy, AdamwLauncher adamw, SamplingLauncher sampling,
                        Bf16Shadows shadows) {

    /**
     * Every launcher, its kernels found through {@code kernels}; launches go through {@code launcher}, arguments are
     * checked by {@code args}, and {@code allocate} makes the float32 scratch memory some of them keep;
     * {@code allocateShadow} the memory of the bf16 copies ({@link Bf16Shadows}) and of the tensor maps
     * ({@link TensorMaps}), also inside a step graph.
     */
    public static Launchers create(KernelLookup kernels, Launcher launcher, TensorChecks args, Grid grid,
                                   LongFunction<CudaTensor> allocate, LongFunction<CudaTensor> allocateShadow) {
        Bf16Conversion bf16 = new Bf16Conversion(kernels, launcher, grid);
        Bf16Shadows shadows = new Bf16Shadows(bf16, allocateShadow);
        AdamwLauncher adamw = new AdamwLauncher(kernels, launcher, args, grid, allocate, shadows);
        return new Launchers(new EncoderLauncher(kernels, launcher, args),
                new LayernormLauncher(kernels, launcher, args, grid, shadows),
                new MatmulLauncher(kernels, launcher, args, grid, shadows, adamw, allocateShadow),
                new AttentionLauncher(kernels, launcher, args, shadows),
                new GeluResidualLauncher(kernels, launcher, args, shadows),
                new CrossEntropyLauncher(kernels, launcher, args, grid, shadows),
                adamw,
                new SamplingLauncher(kernels, launcher, args), shadows);
    }
}
