package io.streamtrain.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.streamtrain.cuda.CudaDevice;
import io.streamtrain.model.Kernels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class BackendsTest {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(out, true, StandardCharsets.UTF_8);

    private String logged() {
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void shouldOpenTheCpuBackendWithTheGivenThreads() {
        try (Kernels kernels = Backends.open("cpu", 1, log)) {
            assertEquals("cpu", kernels.backendName());
        }
        assertTrue(logged().startsWith("backend: cpu ("), logged());
    }

    @Test
    void shouldFallBackToCpuAndSayWhyWhenAutoFindsNoUsableCudaDevice() {
        CudaDevice device = CudaDevice.probe();
        assumeFalse(device.available(), "this machine has a usable CUDA device: " + device.name());
        try (Kernels kernels = Backends.open("auto", 1, log)) {
            assertEquals("cpu", kernels.backendName());
        }
        assertTrue(logged().contains("auto chose cpu") && logged().contains(device.reason()), logged());
    }

    @Test
    void shouldFailAtOnceWithTheReasonWhenCudaIsRequestedWithoutAUsableDevice() {
        CudaDevice device = CudaDevice.probe();
        assumeFalse(device.available(), "this machine has a usable CUDA device: " + device.name());
        IllegalStateException error = assertThrows(IllegalStateException.class, () -> Backends.open("cuda", log));
        assertTrue(error.getMessage().contains(device.reason()), error.getMessage());
    }

    @Test
    void shouldChooseCudaWhenAutoFindsAUsableDevice() {
        CudaDevice device = CudaDevice.probe();
        assumeTrue(device.available(), "no usable CUDA device here: " + device.reason());
        try (Kernels kernels = Backends.open("auto", log)) {
            assertEquals("cuda", kernels.backendName());
        }
        assertTrue(logged().contains("auto chose cuda (" + device.name()), logged());
    }

    @Test
    void shouldRejectAnUnknownBackendNamingTheChoices() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> Backends.open("tpu", log));
        assertTrue(error.getMessage().contains("auto, cpu or cuda"), error.getMessage());
    }
}
