package io.streamtrain.cuda;

import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;

import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUresult;

/**
 * What {@link #probe} found about one CUDA device: whether this backend can use it and, when not, why.
 *
 * @param available         true when {@link CudaKernels#open(int)} will succeed on this device
 * @param ordinal           the device index asked for
 * @param name              the device's name, e.g. {@code NVIDIA H200}; empty when unavailable before a device was seen
 * @param computeMajor      compute capability, major (0 when unknown)
 * @param computeMinor      compute capability, minor
 * @param memoryBytes       device memory in bytes (0 when unknown)
 * @param multiprocessors   streaming multiprocessors (0 when unknown)
 * @param driverVersion     the CUDA driver API version, e.g. 13000 for 13.0 (0 when no driver)
 * @param reason            why the device is unavailable, in words a user can act on; empty when available
 */
public record CudaDevice(boolean available, int ordinal, String name, int computeMajor, int computeMinor,
                         long memoryBytes, int multiprocessors, int driverVersion, String reason) {

    /** The oldest compute capability the kernels run on: bf16 tensor cores (mma.sync m16n8k16) need 8.0. */
    public static final int MINIMUM_COMPUTE_MAJOR = 8;

    /**
     * The PTX ISA version of the shipped kernels ({@code .version} in their header, e.g. 90 for 9.0), as
     * model-cuda/build-ptx.sh's nvcc wrote it: a driver loads PTX only up to the ISA of its own CUDA version.
     */
    public static final int PTX_ISA_VERSION = ptxIsaVersion(
            new String(io.streamtrain.cuda.internal.PtxModules.readResource("matmul.sm80.ptx"), 0, 400,
                    java.nio.charset.StandardCharsets.US_ASCII));

    /** Why the driver could not be loaded, from the first attempt (the JVM does not retry a failed native load). */
    private static volatile String driverLoadFailure;

    /** Usable devices: ordinals 0, 1, ... as long as the probe finds them usable (0 without a driver or GPU). */
    public static int count() {
        int n = 0;
        while (probe(n).available()) {
            n++;
        }
        return n;
    }

    /** Probes device 0. */
    public static CudaDevice probe() {
        return probe(0);
    }

    /** Probes device {@code ordinal}: loads the driver, counts devices, reads the device's capability. Never throws. */
    public static CudaDevice probe(int ordinal) {
        int result;
        String loadFailure = driverLoadFailure;
        if (loadFailure != null) {
            return unavailable(ordinal, 0, loadFailure);
        }
        try {
            result = cuInit(0);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            // the first failure says why; later calls get "could not initialize class", so keep the first reason
            loadFailure = "no NVIDIA driver: the CUDA driver library (libcuda) or JCuda's native library "
                    + "could not be loaded (" + essence(e.getMessage()) + "); install the NVIDIA driver, or use --backend cpu";
            driverLoadFailure = loadFailure;
            return unavailable(ordinal, 0, loadFailure);
        } catch (RuntimeException e) {
            return unavailable(ordinal, 0, "the CUDA driver failed to initialise: " + e.getMessage()
                    + "; check the NVIDIA driver (nvidia-smi), or use --backend cpu");
        }
        int[] value = new int[1];
        cuDriverGetVersion(value);
        int driver = value[0];
        if (result == CUresult.CUDA_ERROR_NO_DEVICE) {
            return unavailable(ordinal, driver, "no CUDA device: the NVIDIA driver is installed but sees no GPU; "
                    + "use --backend cpu");
        }
        String tooOld = driverTooOld(driver, PTX_ISA_VERSION);
        if (!tooOld.isEmpty()) {
            return unavailable(ordinal, driver, tooOld);
        }
        if (result != CUresult.CUDA_SUCCESS) {
            return unavailable(ordinal, driver, "the CUDA driver failed to initialise (" + CUresult.stringFor(result)
                    + "); check the NVIDIA driver (nvidia-smi), or use --backend cpu");
        }
        cuDeviceGetCount(value);
        int count = value[0];
        if (count == 0) {
            return unavailable(ordinal, driver, "no CUDA device: the NVIDIA driver sees no GPU; use --backend cpu");
        }
        if (ordinal < 0 || ordinal >= count) {
            return unavailable(ordinal, driver, "no CUDA device " + ordinal + ": this machine has " + count
                    + (count == 1 ? " device (0)" : " devices (0 to " + (count - 1) + ")"));
        }
        CUdevice device = new CUdevice();
        cuDeviceGet(device, ordinal);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        int length = 0;
        while (length < nameBytes.length && nameBytes[length] != 0) {
            length++;
        }
        String name = new String(nameBytes, 0, length, java.nio.charset.StandardCharsets.UTF_8);
        cuDeviceGetAttribute(value, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        int major = value[0];
        cuDeviceGetAttribute(value, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
        int minor = value[0];
        cuDeviceGetAttribute(value, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        int multiprocessors = value[0];
        long[] memory = new long[1];
        cuDeviceTotalMem(memory, device);
        if (major < MINIMUM_COMPUTE_MAJOR) {
            return new CudaDevice(false, ordinal, name, major, minor, memory[0], multiprocessors, driver,
                    "CUDA device " + ordinal + " (" + name + ") has compute capability " + major + "." + minor
                            + ", older than the 8.0 this backend needs (bf16 tensor cores); use --backend cpu");
        }
        return new CudaDevice(true, ordinal, name, major, minor, memory[0], multiprocessors, driver, "");
    }

    /**
     * The CUDA version (driver API numbering, 13000 for 13.0) whose drivers load PTX of ISA {@code isa} (90 for 9.0):
     * ISA 9.0 came with CUDA 13.0, 8.0 to 8.8 with 12.0 to 12.8, 7.0 to 7.8 with 11.0 to 11.8.
     */
    public static int minimumCudaVersionForPtx(int isa) {
        int major = isa / 10, minor = isa % 10;
        return (major + 4) * 1000 + minor * 10;
    }

    /**
     * Empty when a driver of CUDA version {@code driverVersion} (cuDriverGetVersion, 12040 for 12.4) can load PTX of
     * ISA {@code isa}; else why not, in words a user can act on.
     */
    public static String driverTooOld(int driverVersion, int isa) {
        int needed = minimumCudaVersionForPtx(isa);
        if (driverVersion <= 0 || driverVersion >= needed) {
            return "";
        }
        return "the NVIDIA driver is too old for these kernels: it supports CUDA " + cudaVersion(driverVersion)
                + ", and their PTX (ISA " + isa / 10 + "." + isa % 10 + ") needs CUDA " + cudaVersion(needed)
                + (needed == 13000 ? " (Linux driver 580 or newer)" : "") + "; update the NVIDIA driver, or use --backend cpu";
    }

    private static String cudaVersion(int version) {
        return version / 1000 + "." + version % 1000 / 10;
    }

    /** The ISA of a PTX header ({@code .version 9.0} gives 90). */
    static int ptxIsaVersion(String header) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\.version (\\d+)\\.(\\d+)").matcher(header);
        if (!m.find()) {
            throw new IllegalStateException("the shipped PTX has no .version line: rebuild model-cuda/build-ptx.sh");
        }
        return Integer.parseInt(m.group(1)) * 10 + Integer.parseInt(m.group(2));
    }

    /** The line of JCuda's long load-failure message that says what is missing (e.g. libcuda.so.1). */
    private static String essence(String message) {
        if (message == null) {
            return "no message";
        }
        for (String line : message.split("\n")) {
            int at = line.indexOf("cannot open shared object file");
            if (at >= 0) {
                int start = line.lastIndexOf(": ", Math.max(0, at - 3));
                return (start >= 0 ? line.substring(start + 2) : line).trim();
            }
        }
        return message.lines().findFirst().orElse(message).trim();
    }

    private static CudaDevice unavailable(int ordinal, int driver, String reason) {
        return new CudaDevice(false, ordinal, "", 0, 0, 0, 0, driver, reason);
    }

    /** In words, e.g. {@code NVIDIA H200 (cc 9.0, 140 GiB, 132 SMs)}, or the reason it is unavailable. */
    public String describe() {
        if (!available) {
            return "no usable CUDA device: " + reason;
        }
        return String.format("%s (cc %d.%d, %d GiB, %d SMs)", name, computeMajor, computeMinor,
                memoryBytes >> 30, multiprocessors);
    }
}
