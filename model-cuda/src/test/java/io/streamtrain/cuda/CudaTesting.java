package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Opens the CUDA backend for a test, or skips the test with the probe's reason where there is no usable GPU. */
final class CudaTesting {
    private static CudaDevice probed;

    private CudaTesting() {
    }

    static synchronized CudaDevice device() {
        if (probed == null) {
            probed = CudaDevice.probe();
            System.out.println("CUDA probe: " + probed.describe());
        }
        return probed;
    }

    /** A JUnit assumption: the caller is skipped, with the probe's reason, where there is no usable GPU. */
    static void requireDevice() {
        CudaDevice device = device();
        assumeTrue(device.available(), () -> "skipped: no usable CUDA device: " + device.reason());
    }

    /** CudaKernels on device 0; a JUnit assumption (the test is skipped, with the reason) when there is none. */
    static CudaKernels openOrSkip() {
        requireDevice();
        return CudaKernels.open(0);
    }

    /**
     * CudaKernels on device 0 with every matrix product that its sizes allow on the wgmma kernels (pipelined threshold
     * 0); a JUnit assumption (skipped, saying why) where there is no GPU or it has no wgmma products (cc 9.0 only).
     */
    static CudaKernels openWithProductsOnWgmmaOrSkip() {
        CudaKernels kernels = openOrSkip();
        if (!kernels.hopperMatmul()) {
            String device = kernels.device().describe();
            kernels.close();
            assumeTrue(false, "skipped: no wgmma matrix products on " + device + " (they need cc 9.0)");
        }
        kernels.pipelinedMatmulThreshold(0);
        return kernels;
    }

    /** max |expected - actual| / max |expected| (at least 1e-6); infinite where any difference is NaN. */
    static double relativeError(float[] expected, float[] actual) {
        double max = 1e-6;
        double difference = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i]));
            double d = Math.abs((double) expected[i] - actual[i]);
            difference = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(difference, d);
        }
        return difference / max;
    }
}
