package io.streamtrain.model;

/**
 * The backend seam: every kernel of a GPT training step and of generation, over memory the
 * backend owns. {@link io.streamtrain.model.cpu.CpuKernels} and the CUDA backend implement it, one file per
 * kernel family on each side; both are checked against the plain-loop ground truth {@code ReferenceKernels} of the
 * model's tests (shared through its test-jar).
 *
 * <p>Conventions. Shapes are written with B batch, T sequence length, C channels, NH heads,
 * V vocabulary, Vp padded vocabulary, OC output channels and N = B * T positions. Arguments come
 * in the order outputs, inputs, weights, sizes. Backward kernels <em>accumulate</em> ({@code +=})
 * into the parameter gradients (the model zero-fills them once before backward). Activation gradients with one
 * producer are <em>written</em> ({@code =}: matmul's dinp, attention's dqkv, gelu's dinp), so they need no
 * zero-fill; layernorm's dinp accumulates, being the residual stream's gradient, which several layers add to (as
 * llm.c's CUDA trainer does). Calls are enqueued in order; only the methods that return data to the host
 * ({@link #read}, {@link #readInts}) wait for the work before them. Nothing here allocates except
 * the {@code allocate} methods, which a model calls once, at start.
 */
public interface Kernels extends AutoCloseable {

    /** Short backend name as printed in metrics and benchmarks: {@code cpu} or {@code cuda}. */
    String backendName();

    /** The device the kernels run on, in words (e.g. {@code "NVIDIA H200"} or {@code "2 CPU threads"}). */
    String deviceName();

    // ---- memory -------------------------------------------------------------------------

    /** A new float32 allocation of {@code size} elements, zero-filled. */
    Tensor allocate(long size);

    /** A new int32 allocation of {@code size} elements, zero-filled. */
    IntTensor allocateInts(long size);

    /** Bytes this backend has allocated so far, for metrics. */
    long allocatedBytes();

    /** Copies {@code dst.size()} floats from {@code src[srcOffset..]} into {@code dst}. */
    void write(Tensor dst, float[] src, int srcOffset);

    /** Copies {@code count} ints from {@code src[srcOffset..]} into {@code dst}; may return before the copy ends
     * on an asynchronous backend, which then owns a staging copy of the ints. */
    void writeInts(IntTensor dst, int[] src, int srcOffset, int count);

    /** Copies {@code src} into {@code dst[dstOffset..]}, after all work enqueued before: the host synchronisation. */
    void read(float[] dst, int dstOffset, Tensor src);

    /** Copies {@code src} into {@code dst[dstOffset..]}, after all work enqueued before. */
    void readInts(int[] dst, int dstOffset, IntTensor src);

    /** Sets every element of {@code out} to {@code value}: zero-grad is one fill of the gradient buffer. */
    void fill(Tensor out, float value);

    /** Copies {@code src} into {@code out} (same size) on the device. */
    void copy(Tensor out, Tensor src);

    // ---- forward / backward pairs ---------------------------------------------------------

    /** out (B, T, C) = wte[tokens] + wpe[t]; tokens (B, T), wte (Vp, C), wpe (>=T, C). */
    void encoderForward(Tensor out, IntTensor tokens, Tensor wte, Tensor wpe, int B, int T, int C);

    /** dwte (Vp, C) and dwpe (T, C) accumulate dout (B, T, C) at the rows that {@code tokens} and t select. */
    void encoderBackward(Tensor dwte, Tensor dwpe, Tensor dout, IntTensor tokens, int B, int T, int C);

    /** out (N, C) = (inp - mean) * rstd * weight + bias over C, eps 1e-5; mean and rstd (N) saved for backward. */
    void layernormForward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor weight, Tensor bias, int N, int C);

    /** dinp (N, C), dweight and dbias (C) accumulate: dinp is the residual stream's gradient. */
    void layernormBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                           Tensor dout, Tensor inp, Tensor weight, Tensor mean, Tensor rstd, int N, int C);

    /** out (N, OC) = inp (N, C) · weight (OC, C)ᵀ + bias (OC); bias may be null. */
    void matmulForward(Tensor out, Tensor inp, Tensor weight, Tensor bias, int N, int C, int OC);

    /** dinp (N, C) is written; dweight (OC, C) and dbias (OC, may be null) accumulate. */
    void matmulBackward(Tensor dinp, Tensor dweight, Tensor dbias,
                        Tensor dout, Tensor inp, Tensor weight, int N, int C, int OC);

    /**
     * Elements of the per-layer attention statistics this backend keeps from forward for backward:
     * the (B, NH, T, T) softmax on the CPU, a (B, NH, T) log-sum-exp for a fused kernel.
     */
    long attentionStatisticsSize(int B, int T, int NH);

    /**
     * Causal multi-head self-attention, softmax scaled by 1/sqrt(C/NH).
     * out (B, T, C); stats as {@link #attentionStatisticsSize}; qkv (B, T, 3C) holding q, k, v in that order,
     * heads contiguous within each.
     */
    void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH);

    /** dqkv (B, T, 3C) is written, from dout (B, T, C) and forward's qkv, out and stats. */
    void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats,
                           int B, int T, int C, int NH);

    /**
     * {@link #attentionForward(Tensor, Tensor, Tensor, int, int, int, int)} with dropout p on the attention weights
     * (the softmax), as PyTorch's {@code scaled_dot_product_attention(dropout_p=p)}: the weights of the values are
     * softmax * mask / (1 - p), with the {@link #dropout} mask keyed by {@code key} at element
     * ((b * NH + h) * T + t) * T + t2 (query t, key t2). The statistics are those without dropout; p = 0 is the call
     * without dropout.
     */
    default void attentionForward(Tensor out, Tensor stats, Tensor qkv, int B, int T, int C, int NH, float dropout,
                                  long key) {
        requireNoDropout(dropout);
        attentionForward(out, stats, qkv, B, T, C, NH);
    }

    /** The backward of the forward with dropout p and {@code key}: the mask drawn again, not stored. */
    default void attentionBackward(Tensor dqkv, Tensor dout, Tensor qkv, Tensor out, Tensor stats,
                                   int B, int T, int C, int NH, float dropout, long key) {
        requireNoDropout(dropout);
        attentionBackward(dqkv, dout, qkv, out, stats, B, T, C, NH);
    }

    /** out (N) = gelu(inp) with the tanh approximation. */
    void geluForward(Tensor out, Tensor inp, int N);

    /** dinp (N) = dout · gelu'(inp), written; dinp may be dout itself. */
    void geluBackward(Tensor dinp, Tensor dout, Tensor inp, int N);

    /** out (N) = inp1 + inp2. */
    void residualForward(Tensor out, Tensor inp1, Tensor inp2, int N);

    /**
     * Inverted dropout with drop probability p in [0, 1): out (N) = inp * mask / (1 - p); out may be inp. Element i
     * is kept (mask 1) when the top 24 bits of SplitMix64's output function of {@code key + (i + 1) *
     * 0x9E3779B97F4A7C15} are at or above {@code (int) (p * 2^24)} (float arithmetic), else dropped (mask 0), and a
     * kept element is multiplied by {@code 1f / (1f - p)}. The mask is a function of (key, i) alone: every backend
     * draws the same one, and backward draws forward's again instead of storing it (the gradient of a dropout is
     * the same dropout of the output's gradient).
     */
    default void dropout(Tensor out, Tensor inp, float p, long key, int N) {
        requireNoDropout(p);
        copy(out.slice(0, N), inp.slice(0, N));
    }

    /** out (N) = inp1 + {@link #dropout}(inp2): the residual sum of a dropped-out branch, in one pass. */
    default void residualDropoutForward(Tensor out, Tensor inp1, Tensor inp2, float p, long key, int N) {
        requireNoDropout(p);
        residualForward(out, inp1, inp2, N);
    }

    /** Whether this backend implements the dropout kernels (the defaults here accept only p = 0). */
    default boolean supportsDropout() {
        return false;
    }

    private void requireNoDropout(float p) {
        if (p != 0f) {
            throw new UnsupportedOperationException("the " + backendName() + " backend has no dropout kernels;"
                    + " train with dropout 0 on it");
        }
    }

    /**
     * Fused softmax and cross-entropy over the first V of Vp logits per position.
     * losses (N) = -log softmax(logits)[target]; correct (N) = 1 where argmax equals the target, else 0.
     * When {@code backward}, dlogits (N, Vp) is <em>overwritten</em> with (softmax - onehot(target)) · dlossScale,
     * and 0 on the padding columns; dlogits may be the logits tensor itself (in place).
     *
     * <p>A backend whose matrix products read bf16 operands may keep dlogits in its own bf16 copy alone (it is only
     * ever read by the output head's {@link #matmulBackward}): whatever reads dlogits as float32 afterwards (a read, a
     * float32 kernel) then sees each value rounded to bf16 (to nearest even: a relative change of at most 2^-9, the
     * rounding those products apply to their operands anyway). The losses, the accuracy and a forward without
     * {@code backward} are unchanged by this: the logits are read as written.
     */
    void softmaxCrossEntropy(Tensor losses, Tensor correct, Tensor dlogits, Tensor logits, IntTensor targets,
                             float dlossScale, boolean backward, int N, int V, int Vp);

    /** out (1) = mean of inp (n). */
    void mean(Tensor out, Tensor inp, long n);

    /** out (1) = the L2 norm of inp (n): the global gradient norm. */
    void globalNorm(Tensor out, Tensor inp, long n);

    /**
     * One AdamW step over the flat layout, gradients clipped by global norm on the device:
     * scale = min(1, maxGradNorm / (norm + 1e-6)) with norm read from {@code gradNorm} (1).
     * Elements [0, decayedSize) get decoupled weight decay. When the norm is NaN or infinite the step is
     * skipped: params, m and v stay as they were. {@code step} counts from 1 (bias correction).
     */
    void adamw(Tensor params, Tensor m, Tensor v, Tensor grads, Tensor gradNorm, long n, long decayedSize,
               float learningRate, float beta1, float beta2, float eps, float weightDecay, float maxGradNorm, int step);

    /**
     * Enqueues the kernel calls that {@code enqueue} makes: a sequence a caller repeats, such as the body of a
     * training step, which a backend may record once per {@code key} and replay (the CUDA backend as a CUDA
     * graph: one launch instead of one per kernel). The default simply runs {@code enqueue}.
     *
     * <p>The contract for {@code enqueue}: it only calls kernels (no {@code allocate}, {@code write} or
     * {@code read} methods); every call with the same key makes the same kernel calls in the same order with the
     * same sizes. Their tensors and scalar arguments may change between calls (AdamW's learning rate and step
     * change every step): a backend that replays checks them and updates what changed, so the work enqueued is
     * always what {@code enqueue} asks for. It may be run more than once per call, with only the last run's work
     * enqueued. The key is a {@code long} (e.g. B and T packed) so that a step allocates nothing.
     */
    default void captureStep(long key, Runnable enqueue) {
        enqueue.run();
    }

    // ---- generation ------------------------------------------------------------------------

    /**
     * Attention of one new position against a KV cache: out (C) from q (C) and the cached
     * keys and values kcache, vcache (>= position + 1, C) of positions [0, position].
     */
    void attentionDecode(Tensor out, Tensor q, Tensor kcache, Tensor vcache, int position, int C, int NH);

    /**
     * Samples one token from logits (>= V) into {@code out} (1): greedy argmax when temperature is 0,
     * else from softmax(logits / temperature) restricted to the topK largest (all of V when topK <= 0),
     * using the uniform number coin (1) in [0, 1). Padding ids (>= V) are never chosen.
     */
    void sample(IntTensor out, Tensor logits, Tensor coin, float temperature, int topK, int V);

    /** Releases everything this backend allocated. */
    @Override
    void close();
}
