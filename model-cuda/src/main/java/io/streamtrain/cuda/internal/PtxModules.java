package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;

/**
 * The PTX modules shipped as resources under {@code io/streamtrain/cuda/ptx/}, one per {@link KernelFamily}, loaded
 * once. On a Hopper GPU (cc 9.0) a family's {@code .sm90.ptx} (compute_90a) is taken where the family has one
 * ({@link KernelFamily#hopperVariant}); else the portable {@code .sm80.ptx}, which the driver JIT-compiles for any
 * GPU of cc 8.0 or newer. {@code -Dstreamtrain.cuda.portablePtx=true} takes the portable PTX on Hopper too (to test
 * the compute_80 kernels there).
 */
public final class PtxModules implements KernelLookup, AutoCloseable {
    /** Where the PTX resources live, relative to the class path root. */
    public static final String RESOURCE_DIRECTORY = "io/streamtrain/cuda/ptx/";

    private final List<CUmodule> modules = new ArrayList<>();
    private final List<String> loaded = new ArrayList<>();
    private final boolean hopper;

    /** The modules for a device of compute capability {@code computeMajor}.{@code computeMinor}. */
    public PtxModules(int computeMajor, int computeMinor) {
        // compute_90a PTX runs on cc 9.0 alone
        this.hopper = computeMajor == 9 && computeMinor == 0 && !Boolean.getBoolean("streamtrain.cuda.portablePtx");
        for (KernelFamily family : KernelFamily.values()) {
            load(family);
        }
    }

    private void load(KernelFamily family) {
        String variant = hopper && family.hopperVariant() ? family.hopperPtx() : family.portablePtx();
        byte[] ptx = readResource(variant);
        byte[] terminated = new byte[ptx.length + 1];  // the driver reads PTX as a NUL-terminated string
        System.arraycopy(ptx, 0, terminated, 0, ptx.length);
        CUmodule module = new CUmodule();
        Driver.check(cuModuleLoadData(module, terminated), "loading PTX module " + variant);
        modules.add(module);
        loaded.add(variant);
    }

    @Override
    public CUfunction function(KernelFamily family, String name) {
        int index = family.ordinal();
        CUfunction function = new CUfunction();
        Driver.check(cuModuleGetFunction(function, modules.get(index), name),
                "finding kernel " + name + " in " + loaded.get(index));
        return function;
    }

    @Override
    public CUfunction function(KernelFamily family, String name, int maxDynamicSharedBytes) {
        CUfunction function = function(family, name);
        Driver.check(cuFuncSetAttribute(function, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                maxDynamicSharedBytes), "raising the shared memory limit of " + name);
        return function;
    }

    @Override
    public CUfunction hopperFunction(KernelFamily family, String name, int maxDynamicSharedBytes) {
        if (!loaded.get(family.ordinal()).equals(family.hopperPtx())) {
            return null;
        }
        return maxDynamicSharedBytes > 0 ? function(family, name, maxDynamicSharedBytes) : function(family, name);
    }

    /** The resource names of the modules loaded, e.g. {@code matmul.sm80.ptx}. */
    public List<String> loadedVariants() {
        return List.copyOf(loaded);
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
