package io.streamtrain.cuda;

import io.streamtrain.model.Checkpoint;
import io.streamtrain.model.Checkpoints;
import io.streamtrain.model.Gpt;
import io.streamtrain.model.Kernels;
import io.streamtrain.model.TrainingOptions;
import io.streamtrain.model.cpu.CpuKernels;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * For {@code bench/hf-check.sh} on the GPU machine: the logits of a checkpoint's model on given ids, on the CPU or
 * CUDA backend, for comparison with Hugging Face transformers on an export of the same checkpoint.
 *
 * <p>{@code java -cp ... io.streamtrain.cuda.LogitsDump cpu|cuda CHECKPOINT IDS OUT}: IDS holds N int32
 * little-endian ids (N at most the context length), OUT receives the (N, V) float32 little-endian logits of one
 * row of N positions (the padding columns up to Vp dropped).
 */
public final class LogitsDump {
    private LogitsDump() {}

    public static void main(String[] args) throws IOException {
        if (args.length != 4) {
            System.err.println("usage: LogitsDump cpu|cuda CHECKPOINT IDS OUT");
            System.exit(2);
        }
        Checkpoint checkpoint = Checkpoints.read(Path.of(args[1]));
        ByteBuffer idBytes = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[2]))).order(ByteOrder.LITTLE_ENDIAN);
        int[] ids = new int[idBytes.remaining() / Integer.BYTES];
        idBytes.asIntBuffer().get(ids);
        Kernels kernels = args[0].equals("cuda") ? CudaKernels.open() : CpuKernels.create();
        try (Gpt gpt = Gpt.restore(checkpoint, kernels, TrainingOptions.defaults())) {
            float[] logits = gpt.logits(ids, 1, ids.length);
            int vocabulary = checkpoint.config().vocabularySize();
            int padded = checkpoint.config().paddedVocabularySize();
            ByteBuffer out = ByteBuffer.allocate(ids.length * vocabulary * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (int position = 0; position < ids.length; position++) {
                for (int v = 0; v < vocabulary; v++) {
                    out.putFloat(logits[position * padded + v]);
                }
            }
            Files.write(Path.of(args[3]), out.array());
        }
        System.out.println("logits of " + ids.length + " ids on " + args[0] + " written to " + args[3]);
    }
}
