package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import static io.streamtrain.cuda.DeviceArrays.random;
import static io.streamtrain.cuda.DeviceArrays.upload;
import static io.streamtrain.cuda.DeviceArrays.download;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Every block tile of the wgmma products (cc 9.0), the cp.async ones and the persistent TMA ones, against the CPU
 * reference, on shapes of the model's layers that are no multiple of any tile (rows, columns and depth), one whose
 * weight gradient splits its depth over blocks, ones whose input gradient is stored unsplit (every SM has an output
 * tile), one with several output tiles per SM in both forward and dinp (the persistent kernels' loop over tiles, and
 * their stages reused across tiles), and a 50304-wide output head. Each output starts as NaN (forward) or random (the
 * accumulated gradients).
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaHopperMatmulTest {
    /** bf16 operands: 8 bits of mantissa, averaged over K (CudaKernelsCompatibilityTest says more). */
    private static final double TOLERANCE = 1e-2;

    /** Forward out, dinp, dweight, dbias of one linear layer on {@code k}. */
    private static float[][] layer(Kernels k, float[] inp, float[] weight, float[] bias, float[] dout, float[] dinp0,
                                   float[] dweight0, int N, int C, int OC) {
        float[] nan = new float[N * OC];
        java.util.Arrays.fill(nan, Float.NaN);
        Tensor out = upload(k, nan);
        Tensor in = upload(k, inp);
        Tensor w = upload(k, weight);
        Tensor b = upload(k, bias);
        k.matmulForward(out, in, w, b, N, C, OC);
        Tensor dinp = upload(k, dinp0);
        Tensor dweight = upload(k, dweight0);
        Tensor dbias = upload(k, new float[OC]);
        k.matmulBackward(dinp, dweight, dbias, upload(k, dout), in, w, N, C, OC);
        return new float[][] {download(k, out, (long) N * OC), download(k, dinp, (long) N * C), download(k, dweight, (long) OC * C),
                download(k, dbias, OC)};
    }

    @Test
    void shouldMatchTheReferenceOnEveryTileAndShapeIncludingTheWideHead() {
        // {2200, 1000, 520}: 144 output tiles of dinp, depth 520: dinp stored by one block per tile, not split;
        // {4999, 520, 1544}: forward 520 tiles of 128 x 128 (about 4 per SM), dinp 200 (stored unsplit), depths 520
        // and 1544, no multiple of 64
        int[][] shapes = {{1000, 776, 2312}, {37, 64, 264}, {4100, 136, 264}, {136, 768, 50304}, {2200, 1000, 520},
                {4999, 520, 1544}};
        String[] outputs = {"out", "dinp", "dweight", "dbias"};
        try (CudaKernels gpu = CudaTesting.openWithProductsOnWgmmaOrSkip(); CpuKernels cpu = cpuReference()) {
            Random random = new Random(90);
            for (int[] shape : shapes) {
                int N = shape[0];
                int C = shape[1];
                int OC = shape[2];
                float[] inp = random(random, (long) N * C);
                float[] weight = random(random, (long) OC * C);
                float[] bias = random(random, OC);
                float[] dout = random(random, (long) N * OC);
                float[] dinp0 = random(random, (long) N * C);
                float[] dweight0 = random(random, (long) OC * C);
                float[][] expected = layer(cpu, inp, weight, bias, dout, dinp0, dweight0, N, C, OC);
                for (String tile : gpu.hopperMatmulTiles()) {
                    gpu.hopperMatmulTile(tile);
                    float[][] actual = layer(gpu, inp, weight, bias, dout, dinp0, dweight0, N, C, OC);
                    for (int i = 0; i < outputs.length; i++) {
                        expectClose(String.format("wgmma %-10s %-8s N=%d C=%d OC=%d", tile, outputs[i], N, C, OC),
                                expected[i], actual[i]);
                    }
                }
            }
        }
    }

    private static CpuKernels cpuReference() {
        return new CpuKernels(Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    /** Prints {@code what}'s max relative error and fails above the tolerance (or on NaN). */
    private static void expectClose(String what, float[] expected, float[] actual) {
        double error = CudaTesting.relativeError(expected, actual);
        System.out.printf("%s max relative error %.3e%n", what, error);
        assertTrue(error <= TOLERANCE, what + ": relative error " + error + " exceeds " + TOLERANCE);
    }
}
