package io.streamtrain.cuda.internal;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxReset;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;

import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * What the CUDA kernels run in, set up once: the device's primary context, made current on each calling thread when
 * needed; one non-blocking stream; the PTX modules; the argument packer ({@link Launcher}) and pinned host staging.
 */
public final class DeviceSetup implements AutoCloseable {
    private static final ThreadLocal<CUcontext> CURRENT = new ThreadLocal<>();

    private final CUdevice cuDevice = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final StreamHandle stream = new StreamHandle();
    private final PtxModules modules;
    private final Launcher launcher;
    private final PinnedStaging staging;

    /** Sets up device {@code ordinal} of compute capability {@code computeMajor}.{@code computeMinor} (the PTX variant
     * depends on it). */
    public DeviceSetup(int ordinal, int computeMajor, int computeMinor) {
        Driver.check(cuDeviceGet(cuDevice, ordinal), "getting CUDA device " + ordinal);
        Driver.check(cuDevicePrimaryCtxRetain(context, cuDevice), "creating the CUDA context");
        makeCurrent();
        Driver.check(cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING), "creating a CUDA stream");
        modules = new PtxModules(computeMajor, computeMinor);
        launcher = new Launcher(stream);
        staging = new PinnedStaging(stream);
    }

    /** Makes the context current on the calling thread, unless it already is. */
    public void makeCurrent() {
        if (CURRENT.get() != context) {
            Driver.check(cuCtxSetCurrent(context), "making the CUDA context current");
            CURRENT.set(context);
        }
    }

    /** The dynamic shared memory a kernel may be allowed per block (the device's opt-in maximum), in bytes. */
    public int sharedBytesPerBlock() {
        int[] value = new int[1];
        Driver.check(cuDeviceGetAttribute(value, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                cuDevice), "reading the shared memory per block");
        return value[0];
    }

    public CUstream stream() {
        return stream;
    }

    /** The stream's native handle, for libraries outside JCuda (NCCL) that enqueue on it. */
    public long streamAddress() {
        return stream.address();
    }

    public PtxModules modules() {
        return modules;
    }

    public Launcher launcher() {
        return launcher;
    }

    public PinnedStaging staging() {
        return staging;
    }

    /** Waits for all work on the device, noting (not throwing) an error: the first step of closing. */
    public void synchronize() {
        makeCurrent();
        Driver.note(cuCtxSynchronize());
    }

    /**
     * Releases the staging, modules, stream and context (after {@link #synchronize} and after the device memory is
     * freed); resets the primary context if a kernel failed, since a failed kernel leaves it unusable for the process.
     */
    @Override
    public void close() {
        staging.forgetDevicePointers();
        staging.close();
        modules.close();
        cuStreamDestroy(stream);
        cuDevicePrimaryCtxRelease(cuDevice);
        if (Driver.takeContextLost()) {
            // a failed kernel leaves the context unusable for the whole process: start the next one afresh
            cuDevicePrimaryCtxReset(cuDevice);
        }
        CURRENT.remove();
    }
}
