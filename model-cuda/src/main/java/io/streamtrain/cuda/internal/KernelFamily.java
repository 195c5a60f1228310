package io.streamtrain.cuda.internal;

/**
 * The kernel families: one CUDA C file each under {@code model-cuda/src/main/cuda} ({@link #source}), one PTX
 * resource each ({@link #portablePtx}, and {@link #hopperPtx} where {@link #hopperVariant}), one launcher each in
 * this package, and one CPU file each in the model's {@code cpu.internal} package. The one list of them:
 * {@link PtxModules} loads these, {@code model-cuda/build-ptx.sh} compiles these (it reads this file: keep one
 * constant per line, as {@code NAME("file", hopperVariant)}), and {@code PtxFreshnessTest} checks the sources, the
 * PTX and the launchers against it.
 */
public enum KernelFamily {
    ENCODER("encoder", false),
    LAYERNORM("layernorm", false),
    MATMUL("matmul", true),
    ATTENTION("attention", true),
    GELU_RESIDUAL("gelu_residual", false),
    CROSSENTROPY("crossentropy", false),
    ADAMW("adamw", false),
    SAMPLING("sampling", false);

    private final String file;
    private final boolean hopperVariant;

    KernelFamily(String file, boolean hopperVariant) {
        this.file = file;
        this.hopperVariant = hopperVariant;
    }

    /** The CUDA C source, e.g. {@code matmul.cu}. */
    public String source() {
        return file + ".cu";
    }

    /** The portable PTX resource (compute_80, JIT-compiled by the driver on any cc >= 8.0 GPU). */
    public String portablePtx() {
        return file + ".sm80.ptx";
    }

    /**
     * The Hopper PTX resource (compute_90a, built with {@code -DSTREAMTRAIN_HOPPER}: the family's kernels and its
     * Hopper-only ones, such as wgmma), if {@link #hopperVariant}; compute_90a runs on cc 9.0 alone.
     */
    public String hopperPtx() {
        return file + ".sm90.ptx";
    }

    /** Whether build-ptx.sh also builds {@link #hopperPtx}, which the loader takes on cc 9.0. */
    public boolean hopperVariant() {
        return hopperVariant;
    }

    @Override
    public String toString() {
        return file;
    }
}
