package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;
import static io.streamtrain.model.cpu.internal.Views.ints;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;

/**
 * The encoder family ({@code encoder.cu} on the GPU): token plus position embeddings, and their backward
 * scatter-add. Plain loops on the calling thread: the work is a copy per position.
 */
public final class Encoder {
    private Encoder() {
    }

    /** out (B, T, C) = wte[tokens] + wpe[t]; tokens (B, T), wte (Vp, C), wpe (>=T, C). */
    public static void forward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C) {
        CpuTensor o = floats(out, (long) B * T * C, "encoderForward", "out");
        CpuIntTensor ix = ints(tokens, (long) B * T, "encoderForward", "tokens");
        CpuTensor te = floats(wte, 0, "encoderForward", "wte");
        CpuTensor pe = floats(wpe, (long) T * C, "encoderForward", "wpe");
        int vocabularyRows = te.length / C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                int token = checkedToken(ix, b * T + t, vocabularyRows, "encoderForward");
                int outBase = o.offset + (b * T + t) * C; // out[b, t, :]
                int teBase = te.offset + token * C;       // wte[token, :]
                int peBase = pe.offset + t * C;           // wpe[t, :]
                for (int i = 0; i < C; i++) {
                    o.array[outBase + i] = te.array[teBase + i] + pe.array[peBase + i];
                }
            }
        }
    }

    /** dwte (Vp, C) and dwpe (T, C) accumulate dout (B, T, C) at the rows that tokens (B, T) and t select. */
    public static void backward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C) {
        CpuTensor dte = floats(dwte, 0, "encoderBackward", "dwte");
        CpuTensor dpe = floats(dwpe, (long) T * C, "encoderBackward", "dwpe");
        CpuTensor d = floats(dout, (long) B * T * C, "encoderBackward", "dout");
        CpuIntTensor ix = ints(tokens, (long) B * T, "encoderBackward", "tokens");
        int vocabularyRows = dte.length / C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                int token = checkedToken(ix, b * T + t, vocabularyRows, "encoderBackward");
                int dBase = d.offset + (b * T + t) * C;
                int teBase = dte.offset + token * C;
                int peBase = dpe.offset + t * C;
                for (int i = 0; i < C; i++) {
                    float g = d.array[dBase + i];
                    dte.array[teBase + i] += g;
                    dpe.array[peBase + i] += g;
                }
            }
        }
    }

    private static int checkedToken(CpuIntTensor tokens, int index, int vocabularyRows, String kernel) {
        int token = tokens.array[tokens.offset + index];
        if (token < 0 || token >= vocabularyRows) {
            throw new IllegalArgumentException(kernel + ": token id " + token + " at position " + index
                    + " is outside the embedding's " + vocabularyRows + " rows: check the tokenizer's vocabulary size");
        }
        return token;
    }
}
