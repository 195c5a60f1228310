package io.streamtrain.model.cpu;

/**
 * The forward kernels once more, in double precision and in the shortest form: the ground truth
 * that the float kernels and, through finite differences, their backward passes are checked against.
 */
final class DoubleReference {
    private DoubleReference() {
    }

    /** out (B, T, C) = wte[tokens] + wpe[t]. */
    static double[] encoder(int[] tokens, double[] wte, double[] wpe, int B, int T, int C) {
        double[] out = new double[B * T * C];
        for (int bt = 0; bt < B * T; bt++) {
            for (int i = 0; i < C; i++) {
                out[bt * C + i] = wte[tokens[bt] * C + i] + wpe[(bt % T) * C + i];
            }
        }
        return out;
    }

    /** out (N, C) = (x - mean) / sqrt(var + 1e-5) * weight + bias. */
    static double[] layernorm(double[] inp, double[] weight, double[] bias, int N, int C) {
        double[] out = new double[N * C];
        for (int n = 0; n < N; n++) {
            double mean = 0;
            for (int i = 0; i < C; i++) {
                mean += inp[n * C + i] / C;
            }
            double variance = 0;
            for (int i = 0; i < C; i++) {
                variance += (inp[n * C + i] - mean) * (inp[n * C + i] - mean) / C;
            }
            for (int i = 0; i < C; i++) {
                out[n * C + i] = (inp[n * C + i] - mean) / Math.sqrt(variance + 1e-5) * weight[i] + bias[i];
            }
        }
        return out;
    }

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC, or null). */
    static double[] matmul(double[] inp, double[] weight, double[] bias, int N, int C, int OC) {
        double[] out = new double[N * OC];
        for (int n = 0; n < N; n++) {
            for (int o = 0; o < OC; o++) {
                double sum = bias == null ? 0 : bias[o];
                for (int i = 0; i < C; i++) {
                    sum += inp[n * C + i] * weight[o * C + i];
                }
                out[n * OC + o] = sum;
            }
        }
        return out;
    }

    /** Causal attention: out (B, T, C) from qkv (B, T, 3C), softmax of q·k / sqrt(hs). */
    static double[] attention(double[] qkv, int B, int T, int C, int NH) {
        int hs = C / NH;
        double[] out = new double[B * T * C];
        double[] att = new double[T];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < NH; h++) {
                for (int t = 0; t < T; t++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int t2 = 0; t2 <= t; t2++) {
                        double dot = 0;
                        for (int i = 0; i < hs; i++) {
                            dot += qkv[(b * T + t) * 3 * C + h * hs + i] * qkv[(b * T + t2) * 3 * C + C + h * hs + i];
                        }
                        att[t2] = dot / Math.sqrt(hs);
                        max = Math.max(max, att[t2]);
                    }
                    double sum = 0;
                    for (int t2 = 0; t2 <= t; t2++) {
                        att[t2] = Math.exp(att[t2] - max);
                        sum += att[t2];
                    }
                    for (int t2 = 0; t2 <= t; t2++) {
                        for (int i = 0; i < hs; i++) {
                            out[(b * T + t) * C + h * hs + i] +=
                                    att[t2] / sum * qkv[(b * T + t2) * 3 * C + 2 * C + h * hs + i];
                        }
                    }
                }
            }
        }
        return out;
    }

    /** gelu, tanh approximation. */
    static double[] gelu(double[] inp) {
        double[] out = new double[inp.length];
        for (int i = 0; i < inp.length; i++) {
            double x = inp[i];
            out[i] = 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
        }
        return out;
    }

    static double[] residual(double[] a, double[] b) {
        double[] out = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = a[i] + b[i];
        }
        return out;
    }

    /** losses (N) = -log softmax(logits[n, :V])[target]; padding columns [V, Vp) ignored. */
    static double[] crossEntropy(double[] logits, int[] targets, int N, int V, int Vp) {
        double[] losses = new double[N];
        for (int n = 0; n < N; n++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < V; i++) {
                max = Math.max(max, logits[n * Vp + i]);
            }
            double sum = 0;
            for (int i = 0; i < V; i++) {
                sum += Math.exp(logits[n * Vp + i] - max);
            }
            losses[n] = Math.log(sum) + max - logits[n * Vp + targets[n]];
        }
        return losses;
    }
}
