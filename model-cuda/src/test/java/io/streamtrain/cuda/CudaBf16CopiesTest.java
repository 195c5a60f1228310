package io.streamtrain.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.streamtrain.model.IntTensor;
import static io.streamtrain.cuda.DeviceArrays.random;
import static io.streamtrain.cuda.DeviceArrays.upload;
import static io.streamtrain.cuda.DeviceArrays.download;

import io.streamtrain.model.Kernels;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.CpuKernels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The bf16 copies that the matrix products read (Bf16Shadows): a product always sees its operand's latest values,
 * whatever wrote them (a kernel, a fill, a copy, the host, AdamW, an AdamW step skipped for a non-finite norm), and a
 * producer's copy gives the product exactly what a conversion gives. Every product here takes the bf16 path
 * (pipelinedMatmulThreshold 0; sizes multiples of 8).
 */
@ExtendWith(RequiresCudaDevice.class)
class CudaBf16CopiesTest {
    /** bf16 operands (CudaKernelsCompatibilityTest); a stale operand of other random values is off by about 1. */
    private static final double TOLERANCE = 1e-2;
    private static final int N = 72;
    private static final int C = 64;
    private static final int OC = 40;

    /** The same calls on both backends, each followed by a product that reads x; the products' outputs, in order. */
    private static final class Script {
        private final Kernels k;
        private final Tensor x;
        private final Tensor weight;
        private final Tensor out;
        private final List<float[]> products = new ArrayList<>();

        Script(Kernels k, Tensor x, Tensor weight) {
            this.k = k;
            this.x = x;
            this.weight = weight;
            this.out = k.allocate((long) N * OC);
        }

        /** Runs {@code write} (which writes x), then out = x . weight^T, and keeps out. */
        Script then(Consumer<Kernels> write) {
            write.accept(k);
            k.matmulForward(out, x, weight, null, N, C, OC);
            products.add(download(k, out));
            return this;
        }
    }

    private static List<float[]> everyKindOfWrite(Kernels k, Random random) {
        Tensor x = upload(k, random(random, (long) N * C));
        Tensor weight = upload(k, random(random, (long) OC * C));
        Tensor a = upload(k, random(random, (long) N * C));
        Tensor b = upload(k, random(random, (long) N * C));
        Tensor mean = k.allocate(N);
        Tensor rstd = k.allocate(N);
        Tensor lnWeight = upload(k, random(random, C));
        Tensor lnBias = upload(k, random(random, C));
        float[] host = random(random, (long) N * C);
        Script script = new Script(k, x, weight);
        return script.then(kk -> { })
                .then(kk -> kk.layernormForward(x, mean, rstd, a, lnWeight, lnBias, N, C))
                .then(kk -> kk.write(x, host, 0))
                .then(kk -> kk.fill(x, 0.25f))
                .then(kk -> kk.copy(x, b))
                .then(kk -> kk.geluForward(x, a, N * C))
                .then(kk -> kk.residualForward(x, a, b, N * C))
                .then(kk -> kk.geluBackward(x, b, a, N * C))
                .then(kk -> kk.layernormBackward(x, kk.allocate(C), kk.allocate(C), b, a, lnWeight, mean, rstd, N, C))
                .then(kk -> kk.matmulBackward(x, kk.allocate((long) OC * C), null, upload(kk, random(random, (long) N * OC)),
                        a, upload(kk, random(random, (long) OC * C)), N, C, OC))
                .products;
    }

    @Test
    void shouldReadAnOperandsLatestValuesAfterEveryKindOfWrite() {
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            gpu.pipelinedMatmulThreshold(0);
            List<float[]> expected = everyKindOfWrite(cpu, new Random(11));
            List<float[]> actual = everyKindOfWrite(gpu, new Random(11));
            for (int i = 0; i < expected.size(); i++) {
                double error = CudaTesting.relativeError(expected.get(i), actual.get(i));
                System.out.printf("bf16 copies: product %d after its write, max relative error %.3e%n", i, error);
                assertTrue(error <= TOLERANCE, "the product after write " + i + " read stale or wrong values: relative "
                        + "error " + error);
            }
        }
    }

    /** Products of x (inp) and of a weight that is a view of a flat parameter buffer, through AdamW steps. */
    private static List<float[]> parameterWrites(Kernels k, Random random) {
        long size = 3L * OC * C;
        Tensor params = upload(k, random(random, size));
        Tensor weight = params.slice((long) OC * C, (long) OC * C);  // a view, as the model's weights are
        Tensor m = k.allocate(size);
        Tensor v = k.allocate(size);
        Tensor grads = upload(k, random(random, size));
        Tensor norm = upload(k, new float[] {1.0f});
        Tensor nan = upload(k, new float[] {Float.NaN});
        float[] host = random(random, size);
        Tensor x = upload(k, random(random, (long) N * C));
        Script script = new Script(k, x, weight);
        return script.then(kk -> { })
                .then(kk -> kk.adamw(params, m, v, grads, norm, size, size, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1))
                .then(kk -> kk.adamw(params, m, v, grads, norm, size, size, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 2))
                .then(kk -> kk.write(params, host, 0))
                // skipped for the non-finite norm: the parameters stay those the host wrote
                .then(kk -> kk.adamw(params, m, v, grads, nan, size, size, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 3))
                .then(kk -> kk.adamw(params, m, v, grads, norm, size, size, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 4))
                .products;
    }

    @Test
    void shouldReadTheWeightsThatAdamwAndTheHostLastWrote() {
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            gpu.pipelinedMatmulThreshold(0);
            List<float[]> expected = parameterWrites(cpu, new Random(12));
            List<float[]> actual = parameterWrites(gpu, new Random(12));
            for (int i = 0; i < expected.size(); i++) {
                double error = CudaTesting.relativeError(expected.get(i), actual.get(i));
                System.out.printf("bf16 copies: product %d after a parameter write, max relative error %.3e%n", i,
                        error);
                assertTrue(error <= TOLERANCE, "the product after parameter write " + i + " read stale or wrong "
                        + "weights: relative error " + error);
            }
        }
    }

    /**
     * Runs {@code produce} (which writes x) then a product of x twice: the first product converts x (no copy was
     * asked for before), the second reads the copy that {@code produce} wrote; the two outputs must be bit-identical.
     */
    private static void assertProducersCopyIsTheConversion(CudaKernels gpu, String producer, Tensor x, int columns,
                                                           Runnable produce) {
        Random random = new Random(13);
        Tensor weight = upload(gpu, random(random, (long) OC * columns));
        Tensor out = gpu.allocate((long) N * OC);
        long copies = gpu.bf16CopyBytes();
        produce.run();
        gpu.matmulForward(out, x, weight, null, N, columns, OC);
        float[] converted = download(gpu, out);
        assertTrue(gpu.bf16CopyBytes() > copies, producer + ": the product made no bf16 copy of its operand");
        gpu.fill(out, Float.NaN);
        produce.run();
        gpu.matmulForward(out, x, weight, null, N, columns, OC);
        assertArrayEquals(converted, download(gpu, out), producer + "'s bf16 copy differs from the conversion's");
    }

    @Test
    void shouldGiveTheProductsExactlyWhatAConversionGivesFromEveryProducersCopy() {
        try (CudaKernels gpu = CudaTesting.openOrSkip()) {
            gpu.pipelinedMatmulThreshold(0);
            Random random = new Random(14);
            float[] dinp0 = random(random, (long) N * C);
            Tensor a = upload(gpu, random(random, (long) N * C));
            Tensor b = upload(gpu, random(random, (long) N * C));
            Tensor lnWeight = upload(gpu, random(random, C));
            Tensor lnBias = upload(gpu, random(random, C));
            Tensor mean = gpu.allocate(N);
            Tensor rstd = gpu.allocate(N);
            Tensor x1 = gpu.allocate((long) N * C);
            assertProducersCopyIsTheConversion(gpu, "layernormForward", x1,
                    C, () -> gpu.layernormForward(x1, mean, rstd, a, lnWeight, lnBias, N, C));
            Tensor x2 = gpu.allocate((long) N * C);
            assertProducersCopyIsTheConversion(gpu, "geluForward", x2, C, () -> gpu.geluForward(x2, a, N * C));
            Tensor x3 = gpu.allocate((long) N * C);
            assertProducersCopyIsTheConversion(gpu, "geluBackward", x3, C, () -> gpu.geluBackward(x3, b, a, N * C));
            Tensor x4 = gpu.allocate((long) N * C);
            Tensor dweight = gpu.allocate(C);
            Tensor dbias = gpu.allocate(C);
            assertProducersCopyIsTheConversion(gpu, "layernormBackward", x4, C, () -> {
                gpu.write(x4, dinp0, 0);  // it adds into dinp: the same start both times
                gpu.layernormBackward(x4, dweight, dbias, b, a, lnWeight, mean, rstd, N, C);
            });
            int V = 150;
            int Vp = 160;
            Tensor logits = upload(gpu, random(random, (long) N * Vp));
            int[] ids = new int[N];
            for (int i = 0; i < N; i++) {
                ids[i] = random.nextInt(V);
            }
            IntTensor targets = gpu.allocateInts(N);
            gpu.writeInts(targets, ids, 0, N);
            Tensor dlogits = gpu.allocate((long) N * Vp);
            assertProducersCopyIsTheConversion(gpu, "softmaxCrossEntropy", dlogits, Vp,
                    () -> gpu.softmaxCrossEntropy(gpu.allocate(N), gpu.allocate(N), dlogits, logits, targets,
                            1.0f / N, true, N, V, Vp));
        }
    }

    @Test
    void shouldGiveTheProductsExactlyWhatAConversionGivesFromAdamwsCopyOfTheWeights() {
        try (CudaKernels gpu = CudaTesting.openOrSkip()) {
            gpu.pipelinedMatmulThreshold(0);
            Random random = new Random(15);
            long size = 2L * OC * C;
            Tensor params = upload(gpu, random(random, size));
            Tensor weight = params.slice((long) OC * C, (long) OC * C);
            Tensor x = upload(gpu, random(random, (long) N * C));
            Tensor out = gpu.allocate((long) N * OC);
            gpu.matmulForward(out, x, weight, null, N, C, OC);  // asks for a copy of the weight: AdamW keeps one now
            gpu.adamw(params, gpu.allocate(size), gpu.allocate(size), upload(gpu, random(random, size)),
                    upload(gpu, new float[] {1.0f}), size, size, 0.05f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 1);
            gpu.matmulForward(out, x, weight, null, N, C, OC);
            float[] fromAdamw = download(gpu, out);
            Tensor separate = gpu.allocate((long) OC * C);
            gpu.copy(separate, weight);  // a tensor without a copy: converted
            gpu.matmulForward(out, x, separate, null, N, C, OC);
            assertArrayEquals(download(gpu, out), fromAdamw, "AdamW's bf16 copy of the weights differs from the conversion's");
        }
    }

    /** x rounded to bf16, to nearest even (as the kernels' __float2bfloat16_rn), back as a float. */
    private static float bf16(float x) {
        int bits = Float.floatToRawIntBits(x);
        bits += 0x7fff + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(bits & 0xffff0000);
    }

    /**
     * The cross-entropy writes its gradient into the bf16 copy alone once the output head's products read that copy
     * (the float32 dlogits would only be written to be thrown away): the products see the same values as before, and
     * whatever reads the dlogits as float32 afterwards (the host, a float32 product, a write of part of them) gets them
     * back rounded to bf16, never the logits they overwrote.
     */
    @Test
    void shouldKeepTheDlogitsInTheirCopyAloneAndGiveThemBackRoundedWhenReadAsFloat32() {
        try (CudaKernels gpu = CudaTesting.openOrSkip(); CpuKernels cpu = new CpuKernels(2)) {
            gpu.pipelinedMatmulThreshold(0);
            Random random = new Random(16);
            int V = 150;
            int Vp = 160;
            float[] host = random(random, (long) N * Vp);
            for (int i = 0; i < host.length; i++) {
                host[i] *= 4;
            }
            int[] ids = new int[N];
            for (int i = 0; i < N; i++) {
                ids[i] = random.nextInt(V);
            }
            IntTensor targets = gpu.allocateInts(N);
            gpu.writeInts(targets, ids, 0, N);
            Tensor logits = gpu.allocate((long) N * Vp);
            float[] lnfHost = random(random, (long) N * C);
            float[] wteHost = random(random, (long) Vp * C);
            Tensor lnf = upload(gpu, lnfHost);
            Tensor wte = upload(gpu, wteHost);
            Tensor dlnf = gpu.allocate((long) N * C);
            Tensor dwte = gpu.allocate((long) Vp * C);
            Runnable crossEntropy = () -> {
                gpu.write(logits, host, 0);
                gpu.softmaxCrossEntropy(gpu.allocate(N), gpu.allocate(N), logits, logits, targets, 1.0f / N, true, N,
                        V, Vp);
            };
            // no copy yet: the gradient is written as float32, and the head's backward products convert it
            crossEntropy.run();
            float[] float32 = download(gpu, logits);
            gpu.matmulBackward(dlnf, dwte, null, logits, lnf, wte, N, C, Vp);
            float[] fromConversion = download(gpu, dlnf);
            // now the copy is there: the cross-entropy writes the copy alone, the products read the same values
            crossEntropy.run();
            gpu.matmulBackward(dlnf, dwte, null, logits, lnf, wte, N, C, Vp);
            // (the same up to the order of a split product's atomics)
            double same = CudaTesting.relativeError(fromConversion, download(gpu, dlnf));
            assertTrue(same <= 1e-5, "the head's products read other dlogits: relative error " + same);
            float[] rounded = download(gpu, logits);
            assertFalse(Arrays.equals(float32, rounded), "the float32 dlogits were written: no copy-only gradient");
            for (int i = 0; i < rounded.length; i++) {
                assertEquals(bf16(float32[i]), rounded[i], 0f, "dlogits read back as float32, element " + i);
            }
            // a product that reads float32 (the register-staged one, not from the copies) reads them rounded too
            crossEntropy.run();
            gpu.pipelinedMatmulThreshold(Long.MAX_VALUE);
            Tensor dlnfFloat = gpu.allocate((long) N * C);
            gpu.matmulBackward(dlnfFloat, gpu.allocate((long) Vp * C), null, logits, lnf, wte, N, C, Vp);
            Tensor cpuDlnf = cpu.allocate((long) N * C);
            cpu.matmulBackward(cpuDlnf, cpu.allocate((long) Vp * C), null, upload(cpu, rounded), upload(cpu, lnfHost),
                    upload(cpu, wteHost), N, C, Vp);
            double error = CudaTesting.relativeError(download(cpu, cpuDlnf), download(gpu, dlnfFloat));
            System.out.printf("bf16 copies: float32 product of copy-only dlogits, max relative error %.3e%n", error);
            // (that product rounds its operands to bf16 too: TOLERANCE; stale logits would be off by about 1)
            assertTrue(error <= TOLERANCE, "the float32 product read other dlogits: relative error " + error);
            // a write of one row keeps the others
            gpu.pipelinedMatmulThreshold(0);
            crossEntropy.run();
            gpu.fill(logits.slice(0, Vp), 0f);
            float[] partly = download(gpu, logits);
            for (int i = 0; i < partly.length; i++) {
                assertEquals(i < Vp ? 0f : rounded[i], partly[i], 0f, "dlogits after a fill of row 0, element " + i);
            }
        }
    }
}
