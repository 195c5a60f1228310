package io.streamtrain.model.cpu.internal;

import static io.streamtrain.model.cpu.internal.Views.floats;
import static io.streamtrain.model.cpu.internal.Views.ints;

import io.streamtrain.model.IntTensor;
import io.streamtrain.model.Tensor;
import io.streamtrain.model.cpu.internal.WorkerPool.RangeTask;
import java.util.Arrays;

/**
 * The cross-entropy family ({@code crossentropy.cu} on the GPU): the fused softmax cross-entropy of each
 * position, one position per index of the worker pool, on a per-thread scratch row indexed from 0 so that
 * HotSpot vectorizes it (see {@link MicroKernel}).
 */
public final class CrossEntropy {
    private final WorkerPool pool;
    private final Task task = new Task();

    public CrossEntropy(WorkerPool pool) {
        this.pool = pool;
    }

    /** Per-thread work rows of V floats, grown on first use. */
    private static final class Scratch {
        float[] x = new float[0];
        float[] t = new float[0];

        Scratch ensure(int n) {
            if (x.length < n) {
                x = new float[n];
                t = new float[n];
            }
            return this;
        }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * losses (N), correct (N) and, when backward, dlogits (N, Vp) (which may be logits itself) from logits
     * (N, Vp) and targets (N); see {@link io.streamtrain.model.Kernels#softmaxCrossEntropy}.
     */
    public void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                                    float dlossScale, boolean backward, int N, int V, int Vp) {
        if (V > Vp) {
            throw new IllegalArgumentException("softmaxCrossEntropy: V (" + V + ") exceeds the padded vocabulary Vp ("
                    + Vp + ")");
        }
        Task t = task;
        t.losses = floats(losses, N, "softmaxCrossEntropy", "losses");
        t.correct = floats(correct, N, "softmaxCrossEntropy", "correct");
        t.dlogits = backward ? floats(dlogits, (long) N * Vp, "softmaxCrossEntropy", "dlogits") : null;
        t.logits = floats(logits, (long) N * Vp, "softmaxCrossEntropy", "logits");
        t.targets = ints(targets, N, "softmaxCrossEntropy", "targets");
        t.dlossScale = dlossScale;
        t.V = V;
        t.Vp = Vp;
        pool.parallelFor(t, N, WorkerPool.rowsPerChunk(Vp));
    }

    /** One position per index: loss, correctness and (when backward) the logits' gradient, in place if asked. */
    private static final class Task extends RangeTask {
        CpuTensor losses, correct, dlogits, logits;
        CpuIntTensor targets;
        float dlossScale;
        int V, Vp;

        @Override
        public void run(int start, int end) {
            for (int n = start; n < end; n++) {
                int target = targets.array[targets.offset + n];
                if (target < 0 || target >= V) {
                    throw new IllegalArgumentException("softmaxCrossEntropy: target id " + target + " at position "
                            + n + " is outside the vocabulary of " + V + " ids");
                }
                row(losses, correct, dlogits, logits, n, target, dlossScale, V, Vp);
            }
        }
    }

    /**
     * Softmax cross-entropy of position n over the first V of its Vp logits: losses[n] = -log softmax[target],
     * correct[n] = 1 when the first argmax is the target, else 0. When dlogits is not null, its row n is
     * overwritten with (softmax - onehot(target)) * dlossScale and 0 on the padding; it may be logits itself.
     */
    private static void row(CpuTensor losses, CpuTensor correct, CpuTensor dlogits, CpuTensor logitsView, int n,
                            int target, float dlossScale, int V, int Vp) {
        Scratch s = SCRATCH.get().ensure(V);
        float[] logits = logitsView.array;
        int base = logitsView.offset + n * Vp;
        float max = Float.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int i = 0; i < V; i++) {
            if (logits[base + i] > max) {
                max = logits[base + i];
                argmax = i;
            }
        }
        float shiftedTarget = logits[base + target] - max;
        float[] e = s.x;
        System.arraycopy(logits, base, e, 0, V);
        for (int i = 0; i < V; i++) {
            e[i] -= max;
        }
        Exp.exp(e, s.t, V);
        double sum = sum(e, V);
        float loss = (float) Math.log(sum) - shiftedTarget;
        losses.array[losses.offset + n] = loss;
        correct.array[correct.offset + n] = argmax == target ? 1f : 0f;
        if (dlogits != null) {
            float factor = (float) (dlossScale / sum);
            for (int i = 0; i < V; i++) {
                e[i] *= factor;
            }
            e[target] -= dlossScale;
            int dBase = dlogits.offset + n * Vp;
            System.arraycopy(e, 0, dlogits.array, dBase, V);
            Arrays.fill(dlogits.array, dBase + V, dBase + Vp, 0f);
        }
    }

    /** The sum of x[0..n) in double, over four interleaved partial sums (a latency-bound single sum is 4x slower). */
    private static double sum(float[] x, int n) {
        double s0 = 0.0;
        double s1 = 0.0;
        double s2 = 0.0;
        double s3 = 0.0;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += x[i];
            s1 += x[i + 1];
            s2 += x[i + 2];
            s3 += x[i + 3];
        }
        for (; i < n; i++) {
            s0 += x[i];
        }
        return (s0 + s1) + (s2 + s3);
    }
}
