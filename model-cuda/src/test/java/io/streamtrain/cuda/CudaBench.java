package io.streamtrain.cuda;

import io.streamtrain.model.Gpt;
import io.streamtrain.model.GptConfig;
import io.streamtrain.model.StepResult;
import io.streamtrain.model.TrainingOptions;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.Random;

/**
 * Training throughput of the GPT on the GPU, for bench/gpu.sh where the CLI's {@code streamtrain bench} is not
 * there: random tokens, warm-up steps, then timed steps; prints one JSON line with the fields of the model
 * issue's benchmark. usage: CudaBench --model tiny|small|gpt2 --vocab V --batch B --seq-len T [--steps N]
 * [--warmup W] [--seed S] [--profile]
 */
public final class CudaBench {
    private CudaBench() {
    }

    public static void main(String[] args) {
        String model = "tiny";
        int vocab = 8192;
        int batch = 16;
        int seqLen = 256;
        int steps = 50;
        int warmup = 10;
        long seed = 1;
        boolean profile = false;
        for (int i = 0; i < args.length; i += 2) {
            if (args[i].equals("--profile")) {
                profile = true;
                i--;
                continue;
            }
            String value = args[i + 1];
            switch (args[i]) {
                case "--model" -> model = value;
                case "--vocab" -> vocab = Integer.parseInt(value);
                case "--batch" -> batch = Integer.parseInt(value);
                case "--seq-len" -> seqLen = Integer.parseInt(value);
                case "--steps" -> steps = Integer.parseInt(value);
                case "--warmup" -> warmup = Integer.parseInt(value);
                case "--seed" -> seed = Long.parseLong(value);
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; options: --model --vocab --batch --seq-len --steps --warmup --seed --profile");
            }
        }
        GptConfig config = GptConfig.preset(model, vocab);
        Random random = new Random(seed);
        int[][] batches = new int[8][batch * (seqLen + 1)];
        for (int[] tokens : batches) {
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = random.nextInt(vocab);
            }
        }
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (CudaKernels kernels = CudaKernels.open(0);
             Gpt gpt = Gpt.initialize(config, kernels, TrainingOptions.defaults(), seed)) {
            StepResult first = null;
            for (int i = 0; i < warmup; i++) {
                StepResult r = gpt.trainStep(batches[i % batches.length], batch, seqLen);
                if (first == null) {
                    first = r;
                }
            }
            long syncs = kernels.hostSynchronizations();
            long allocated = threads.getCurrentThreadAllocatedBytes();
            long start = System.nanoTime();
            StepResult last = null;
            for (int i = 0; i < steps; i++) {
                last = gpt.trainStep(batches[i % batches.length], batch, seqLen);
            }
            long elapsed = System.nanoTime() - start;
            long allocatedPerStep = (threads.getCurrentThreadAllocatedBytes() - allocated) / steps;
            double syncsPerStep = (double) (kernels.hostSynchronizations() - syncs) / steps;
            double msPerStep = elapsed / 1e6 / steps;
            double tokensPerSecond = (double) batch * seqLen * steps / (elapsed / 1e9);
            if (profile) {
                kernels.startKernelProfile();
                for (int i = 0; i < 3; i++) {
                    gpt.trainStep(batches[i % batches.length], batch, seqLen);
                }
                System.out.print(kernels.kernelProfile(3));
            }
            System.out.println(String.format(Locale.ROOT,
                    "{\"backend\":\"cuda\",\"model\":\"%s\",\"batch\":%d,\"seq_len\":%d,\"vocab\":%d,"
                            + "\"params\":%d,\"steps\":%d,\"tokens_per_s\":%.0f,\"ms_per_step\":%.3f,"
                            + "\"alloc_bytes_per_step\":%d,\"host_syncs_per_step\":%.2f,\"loss_first\":%.4f,"
                            + "\"loss_last\":%.4f,\"device\":\"%s\",\"device_bytes\":%d}",
                    model, batch, seqLen, vocab, config.parameterCount(), steps, tokensPerSecond, msPerStep,
                    allocatedPerStep, syncsPerStep, first == null ? Double.NaN : first.loss(), last.loss(),
                    kernels.deviceName(), kernels.allocatedBytes()));
        }
    }
}
