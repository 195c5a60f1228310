package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.model.Tensor;
import org.junit.jupiter.api.Test;

/** The probe and the errors of {@link CudaKernels#open}: on every machine, with or without a GPU. */
class CudaDeviceTest {

    @Test
    void shouldGiveAReasonWhenNoUsableDeviceExists() {
        CudaDevice device = CudaTesting.device();
        if (device.available()) {
            assertTrue(device.reason().isEmpty(), "an available device has no reason: " + device.reason());
            assertFalse(device.name().isBlank(), "device name");
            assertTrue(device.computeMajor() >= CudaDevice.MINIMUM_COMPUTE_MAJOR, device.describe());
            assertTrue(device.memoryBytes() > 0 && device.multiprocessors() > 0, device.describe());
        } else {
            assertFalse(device.reason().isBlank(), "an unavailable device needs a reason");
            assertTrue(device.reason().contains("--backend cpu") || device.reason().contains("device"),
                    "the reason says what to do: " + device.reason());
        }
    }

    @Test
    void shouldSayTheDriverIsTooOldWhenItCannotLoadTheShippedPtx() {
        assertEquals(90, CudaDevice.PTX_ISA_VERSION, "nvcc 13.0 writes PTX ISA 9.0; README states the driver it needs");
        assertEquals(13000, CudaDevice.minimumCudaVersionForPtx(90));
        assertEquals(12080, CudaDevice.minimumCudaVersionForPtx(88));
        assertEquals(12000, CudaDevice.minimumCudaVersionForPtx(80));
        String reason = CudaDevice.driverTooOld(12040, 90);
        assertTrue(reason.startsWith("the NVIDIA driver is too old for these kernels: it supports CUDA 12.4, and their "
                + "PTX (ISA 9.0) needs CUDA 13.0 (Linux driver 580 or newer)"), reason);
        assertTrue(reason.endsWith("update the NVIDIA driver, or use --backend cpu"), reason);
        assertEquals("", CudaDevice.driverTooOld(13000, 90));
        assertEquals("", CudaDevice.driverTooOld(13020, 90));
    }

    @Test
    void shouldFailAtOnceWithTheProbeReasonWhenOpeningWithoutADevice() {
        CudaDevice device = CudaTesting.device();
        assumeFalse(device.available(), "this machine has a usable GPU: " + device.describe());
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaKernels.open(0));
        assertTrue(e.getMessage().contains(device.reason()), e.getMessage());
    }

    @Test
    void shouldRefuseADeviceOrdinalThatDoesNotExist() {
        CudaDevice device = CudaTesting.device();
        CudaDevice missing = CudaDevice.probe(4096);
        assertFalse(missing.available());
        if (device.available()) {
            assertTrue(missing.reason().startsWith("no CUDA device 4096"), missing.reason());
        }
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaKernels.open(4096));
        assertTrue(e.getMessage().contains(missing.reason()), e.getMessage());
    }

    @Test
    void shouldNameTheDeviceAndCountOneHostSynchronisationPerRead() {
        try (CudaKernels kernels = CudaTesting.openOrSkip()) {
            assertEquals("cuda", kernels.backendName());
            assertEquals(kernels.device().name(), kernels.deviceName());
            Tensor t = kernels.allocate(3);
            kernels.write(t, new float[] {1f, 2f, 3f}, 0);
            kernels.fill(t.slice(1, 1), 7f);
            long before = kernels.hostSynchronizations();
            float[] back = new float[3];
            kernels.read(back, 0, t);
            assertEquals(before + 1, kernels.hostSynchronizations(), "one read, one synchronisation");
            assertEquals(7f, back[1]);
            assertEquals(3f, back[2]);
            System.out.println("opened " + kernels.device().describe() + ", modules " + kernels.loadedModules());
        }
    }

    @Test
    void shouldRejectMemoryOfAnotherBackendWithAClearMessage() {
        try (CudaKernels kernels = CudaTesting.openOrSkip()) {
            Tensor foreign = new io.streamtrain.model.cpu.CpuKernels(1).allocate(4);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> kernels.fill(foreign, 1f));
            assertTrue(e.getMessage().contains("fill: out is not memory of these CUDA kernels"), e.getMessage());
        }
    }

    @Test
    void shouldSkipGpuTestsWithAVisibleReason() {
        CudaDevice device = CudaTesting.device();
        assumeTrue(true);
        // what the GPU tests print when skipped: the probe's reason
        assertEquals(device.available(), device.reason().isEmpty());
    }
}
