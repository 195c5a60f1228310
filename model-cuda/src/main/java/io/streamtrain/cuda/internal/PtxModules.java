package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;

/**
 * The PTX modules shipped as resources under {@code io/streamtrain/cuda/ptx/}, one per kernel family, loaded once.
 * On a Hopper GPU (cc 9.x) a family's {@code .sm90.ptx} is taken where it exists; else the portable
 * {@code .sm80.ptx}, which the driver JIT-compiles for any GPU of cc 8.0 or newer.
 */
public final class PtxModules implements AutoCloseable {
    /** Where the PTX resources live, relative to the class path root. */
    public static final String RESOURCE_DIRECTORY = "io/streamtrain/cuda/ptx/";
    /** The kernel families, one CUDA C file each under model-cuda/src/main/cuda. */
    public static final List<String> FAMILIES = List.of("encoder", "layernorm", "matmul", "attention",
            "gelu_residual", "crossentropy", "adamw", "sampling");

    private final List<CUmodule> modules = new ArrayList<>();
    private final List<String> loaded = new ArrayList<>();
    private final int computeMajor;

    public PtxModules(int computeMajor) {
        this.computeMajor = computeMajor;
        for (String family : FAMILIES) {
            load(family);
        }
    }

    private void load(String family) {
        String variant = computeMajor == 9 && exists(family + ".sm90.ptx") ? family + ".sm90.ptx" : family + ".sm80.ptx";
        byte[] ptx = readResource(variant);
        byte[] terminated = new byte[ptx.length + 1];  // the driver reads PTX as a NUL-terminated string
        System.arraycopy(ptx, 0, terminated, 0, ptx.length);
        CUmodule module = new CUmodule();
        Driver.check(cuModuleLoadData(module, terminated), "loading PTX module " + variant);
        modules.add(module);
        loaded.add(variant);
    }

    /** The kernel {@code name} of {@code family}. */
    public CUfunction function(String family, String name) {
        int index = FAMILIES.indexOf(family);
        if (index < 0) {
            throw new IllegalArgumentException("unknown kernel family " + family + "; families: " + FAMILIES);
        }
        CUfunction function = new CUfunction();
        Driver.check(cuModuleGetFunction(function, modules.get(index), name),
                "finding kernel " + name + " in " + loaded.get(index));
        return function;
    }

    /** The resource names of the modules loaded, e.g. {@code matmul.sm80.ptx}. */
    public List<String> loadedVariants() {
        return List.copyOf(loaded);
    }

    private static boolean exists(String name) {
        return PtxModules.class.getClassLoader().getResource(RESOURCE_DIRECTORY + name) != null;
    }

    /** The bytes of one resource of the PTX directory. */
    public static byte[] readResource(String name) {
        try (InputStream in = PtxModules.class.getClassLoader().getResourceAsStream(RESOURCE_DIRECTORY + name)) {
            if (in == null) {
                throw new IllegalStateException("PTX resource " + RESOURCE_DIRECTORY + name + " is missing from the "
                        + "class path: rebuild model-cuda (model-cuda/build-ptx.sh regenerates the PTX)");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading PTX resource " + name, e);
        }
    }

    @Override
    public void close() {
        for (CUmodule module : modules) {
            cuModuleUnload(module);
        }
        modules.clear();
    }
}
