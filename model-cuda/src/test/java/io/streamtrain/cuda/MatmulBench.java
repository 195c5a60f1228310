package io.streamtrain.cuda;

import io.streamtrain.model.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The matrix products of one training step's layers, timed by path: the compute_80 kernels, and on cc 9.0 the wgmma
 * kernels with the default tile ("auto") and with each tile forced. One linear layer's forward and backward
 * (conversions to bf16 included) per shape, at the token count of the benchmarks (8192); prints milliseconds and
 * TFLOP/s (6 N C OC per forward and backward) per shape and path, then the kernel profile of each wgmma path.
 * usage: MatmulBench [--reps R] [--models small,gpt2]
 */
public final class MatmulBench {
    private MatmulBench() {
    }

    public static void main(String[] args) {
        int reps = 10;
        String models = "small,gpt2";
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--reps" -> reps = Integer.parseInt(args[i + 1]);
                case "--models" -> models = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i] + "; options: --reps --models");
            }
        }
        int N = 8192;
        List<int[]> shapes = new ArrayList<>();  // C, OC, count per step
        for (String model : models.split(",")) {
            int C = model.equals("gpt2") ? 768 : model.equals("small") ? 384 : 128;
            int layers = model.equals("gpt2") ? 12 : model.equals("small") ? 6 : 2;
            int Vp = model.equals("gpt2") ? 50304 : 8192;
            shapes.add(new int[] {C, 3 * C, layers});
            shapes.add(new int[] {C, C, layers});
            shapes.add(new int[] {C, 4 * C, layers});
            shapes.add(new int[] {4 * C, C, layers});
            shapes.add(new int[] {C, Vp, 1});
        }
        try (CudaKernels k = CudaKernels.open(0)) {
            System.out.println("device " + k.device().describe() + ", modules " + k.loadedModules());
            k.pipelinedMatmulThreshold(0);
            List<String> paths = new ArrayList<>(List.of("sm80"));
            if (k.hopperMatmul()) {
                paths.add("auto");
                paths.addAll(k.hopperMatmulTiles());
            }
            Random random = new Random(1);
            long largest = 0;
            for (int[] shape : shapes) {
                largest = Math.max(largest, (long) N * Math.max(shape[0], shape[1]));
            }
            float[] host = new float[Math.toIntExact(largest + 4096)];  // random data, written at random offsets
            for (int i = 0; i < host.length; i++) {
                host[i] = random.nextFloat() * 2 - 1;
            }
            StringBuilder table = new StringBuilder(String.format(Locale.ROOT, "%-12s", "C x OC"));
            for (String path : paths) {
                table.append(String.format(Locale.ROOT, " %17s", path));
            }
            table.append('\n');
            double[] totals = new double[paths.size()];
            List<Tensor[]> operands = new ArrayList<>();
            for (int[] shape : shapes) {
                int C = shape[0];
                int OC = shape[1];
                Tensor inp = random(k, host, random, (long) N * C);
                Tensor weight = random(k, host, random, (long) OC * C);
                Tensor bias = random(k, host, random, OC);
                Tensor out = k.allocate((long) N * OC);
                Tensor dout = random(k, host, random, (long) N * OC);
                Tensor dinp = random(k, host, random, (long) N * C);
                Tensor dweight = random(k, host, random, (long) OC * C);
                Tensor dbias = random(k, host, random, OC);
                operands.add(new Tensor[] {out, inp, weight, bias, dinp, dweight, dbias, dout});
                table.append(String.format(Locale.ROOT, "%-12s", C + "x" + OC));
                for (int p = 0; p < paths.size(); p++) {
                    select(k, paths.get(p));
                    for (int i = 0; i < 2; i++) {
                        layer(k, out, inp, weight, bias, dinp, dweight, dbias, dout, N, C, OC);
                    }
                    sync(k, out);
                    long start = System.nanoTime();
                    for (int i = 0; i < reps; i++) {
                        layer(k, out, inp, weight, bias, dinp, dweight, dbias, dout, N, C, OC);
                    }
                    sync(k, out);
                    double ms = (System.nanoTime() - start) / 1e6 / reps;
                    double tflops = 6.0 * N * C * OC / (ms * 1e-3) / 1e12;
                    totals[p] += ms * shape[2];
                    table.append(String.format(Locale.ROOT, " %7.3f ms %4.0f TF", ms, tflops));
                }
                table.append('\n');
            }
            table.append(String.format(Locale.ROOT, "%-12s", "per step"));
            for (double total : totals) {
                table.append(String.format(Locale.ROOT, " %10.2f ms    ", total));
            }
            System.out.println(table);
            for (String path : paths.size() > 1 ? paths.subList(1, paths.size()) : paths) {
                select(k, path);
                k.startKernelProfile();
                for (int s = 0; s < shapes.size(); s++) {
                    Tensor[] t = operands.get(s);
                    for (int i = 0; i < 3; i++) {
                        layer(k, t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], N, shapes.get(s)[0], shapes.get(s)[1]);
                    }
                }
                System.out.println("kernel profile of the " + path + " path, per forward and backward of every shape "
                        + "once:\n" + k.kernelProfile(3));
            }
        }
    }

    private static void select(CudaKernels k, String path) {
        k.hopperMatmul(!path.equals("sm80"));
        if (!path.equals("sm80")) {
            k.hopperMatmulTile(path);
        }
    }

    private static void layer(CudaKernels k, Tensor out, Tensor inp, Tensor weight, Tensor bias, Tensor dinp,
                              Tensor dweight, Tensor dbias, Tensor dout, int N, int C, int OC) {
        k.matmulForward(out, inp, weight, bias, N, C, OC);
        k.matmulBackward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }

    private static void sync(CudaKernels k, Tensor t) {
        k.read(new float[1], 0, t.slice(0, 1));
    }

    private static Tensor random(CudaKernels k, float[] host, Random random, long n) {
        Tensor t = k.allocate(n);
        k.write(t, host, random.nextInt(4096));
        return t;
    }
}
