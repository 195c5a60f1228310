// Fused causal multi-head attention (flash style): no (T, T) matrix in memory.
//
// qkv (B, T, 3C) holds q, k, v; head h of q at qkv[b, t, h * hs + d], of k at C + h * hs + d, of v at 2C + ...
// stats (2, B, NH, T): [0] the log-sum-exp of each query row's scaled scores (forward, natural log),
// [1] D = sum over d of dout * out (computed at the start of backward).
// Each query or key row is handled by P threads ("parts"), each holding 32 of the D = 32 * P padded
// head dimensions in registers; dot products are summed across the P lanes with shuffles.
// Forward keeps a running maximum and sum (online softmax) over key tiles staged in shared memory;
// backward recomputes the probabilities from the saved log-sum-exp. These fp32 kernels (head sizes 65 to 128):
// one kernel for dq (per query tile, over key tiles), one for dk and dv (per key tile, over query tiles), so no
// atomics. Head sizes up to 64 take the tensor-core kernels further down, whose backward is one pass.
// Dropout on the attention weights (training only; `dropout` 0 = none): the weight of value j for query i is
// p_ij * mask_ij / (1 - p), the mask of dropoutOf(maskKey, dropout) (common.cuh) at element ((b NH + h) T + i) T + j,
// drawn again in backward: dv_j = sum_i p'_ij dout_i and ds_ij = p_ij (mask_ij dp_ij / (1 - p) - D_i), where D_i =
// dout_i . out_i still equals sum_j p_ij (mask_ij dp_ij / (1 - p)). The log-sum-exp is that of the undropped scores.
#include "common.cuh"
#include "tensorcore.cuh"

#define ROWS 64       // query (forward, dq) or key (dk, dv) rows per block
#define STAGE 32      // rows of the other side staged in shared memory per iteration
#define CHUNK 8       // scores computed before one online-softmax rescale

template <int P>
__device__ __forceinline__ float partsSum(float v) {
#pragma unroll
    for (int o = 1; o < P; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Loads this thread's 32 dims [part * 32, part * 32 + 32) of a head row into registers, zero past hs,
// times factor.
__device__ __forceinline__ void loadRow(float* r, const float* row, int part, int hs, float factor, bool valid) {
#pragma unroll
    for (int d = 0; d < 32; d++) {
        int dim = part * 32 + d;
        r[d] = (valid && dim < hs) ? row[dim] * factor : 0.0f;
    }
}

// Stages rows [first, first + STAGE) of one head of a (B, T, 3C) slice (offset selects q, k or v) as
// shared[STAGE][D], zero past T and hs.
template <int D>
__device__ __forceinline__ void stageRows(float* shared, const float* base, int first, int T, int C3, int hs) {
    for (int idx = threadIdx.x; idx < STAGE * D; idx += blockDim.x) {
        int r = idx / D, d = idx % D;
        int t = first + r;
        shared[idx] = (t < T && d < hs) ? base[(long long)t * C3 + d] : 0.0f;
    }
}

__device__ __forceinline__ float dot32(const float* r, const float* s) {
    float sum = 0.0f;
#pragma unroll
    for (int d = 0; d < 32; d += 4) {
        float4 v = *reinterpret_cast<const float4*>(s + d);
        sum += r[d] * v.x + r[d + 1] * v.y + r[d + 2] * v.z + r[d + 3] * v.w;
    }
    return sum;
}

__device__ __forceinline__ void axpy32(float* r, float a, const float* s) {
#pragma unroll
    for (int d = 0; d < 32; d += 4) {
        float4 v = *reinterpret_cast<const float4*>(s + d);
        r[d] += a * v.x; r[d + 1] += a * v.y; r[d + 2] += a * v.z; r[d + 3] += a * v.w;
    }
}

template <int P>
__device__ void attentionForward(float* out, float* stats, const float* qkv, int B, int T, int C, int NH, int hs,
                                 float scale, unsigned long long maskKey, float dropout) {
    constexpr int D = 32 * P;
    __shared__ __align__(16) float keys[STAGE * D];
    __shared__ __align__(16) float values[STAGE * D];
    int tile = gridDim.x - 1 - blockIdx.x;  // the longest causal rows first
    int b = blockIdx.y / NH, h = blockIdx.y % NH;
    int part = threadIdx.x % P;
    int i = tile * ROWS + threadIdx.x / P;
    int C3 = 3 * C;
    const float* base = qkv + (long long)b * T * C3 + h * hs;
    bool valid = i < T;
    int warpLastRow = tile * ROWS + ((threadIdx.x | 31) / P);  // shuffles need the whole warp: loop to its last row
    float q[32], acc[32];
    loadRow(q, base + (long long)i * C3, part, hs, scale * LOG2E, valid);
#pragma unroll
    for (int d = 0; d < 32; d++) acc[d] = 0.0f;
    float m = -CUDART_INF_F, l = 0.0f;
    Dropout drop = dropoutOf(maskKey, dropout);
    unsigned long long dropRow = (((unsigned long long)b * NH + h) * T + i) * T;  // mask index of (i, key 0)
    int lastKey = min(T - 1, tile * ROWS + ROWS - 1);
    for (int first = 0; first <= lastKey; first += STAGE) {
        __syncthreads();
        stageRows<D>(keys, base + C, first, T, C3, hs);
        stageRows<D>(values, base + 2 * C, first, T, C3, hs);
        __syncthreads();
        for (int c0 = 0; c0 < STAGE; c0 += CHUNK) {
            if (first + c0 > warpLastRow) break;  // whole chunk in the future of every row of the warp
            float s[CHUNK];
            float chunkMax = -CUDART_INF_F;
#pragma unroll
            for (int c = 0; c < CHUNK; c++) {
                int j = first + c0 + c;
                float dot = partsSum<P>(dot32(q, keys + (c0 + c) * D + part * 32));
                s[c] = j <= i ? dot : -CUDART_INF_F;
                chunkMax = fmaxf(chunkMax, s[c]);
            }
            float newM = fmaxf(m, chunkMax);
            float correction = exp2f(m - newM);
            l *= correction;
#pragma unroll
            for (int d = 0; d < 32; d++) acc[d] *= correction;
#pragma unroll
            for (int c = 0; c < CHUNK; c++) {
                float p = exp2f(s[c] - newM);
                l += p;
                if (drop.on) p = dropped(drop, dropRow + first + c0 + c, p);
                axpy32(acc, p, values + (c0 + c) * D + part * 32);
            }
            m = newM;
        }
    }
    if (!valid) return;
    float inverse = 1.0f / l;
    float* o = out + ((long long)b * T + i) * C + h * hs;
#pragma unroll
    for (int d = 0; d < 32; d++) {
        int dim = part * 32 + d;
        if (dim < hs) o[dim] = acc[d] * inverse;
    }
    if (part == 0) stats[((long long)b * NH + h) * T + i] = (m + log2f(l)) * LN2;
}

// D (B, NH, T) = sum over the head's dims of dout * out; one warp per row. Also zeroes the row's dq in dqkv, which
// the one-pass backward accumulates with atomics (the other kernels overwrite it).
extern "C" __global__ void attention_backward_preprocess(float* stats, float* dqkv, const float* dout,
                                                         const float* out, int B, int T, int C, int NH) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= B * NH * T) return;
    int hs = C / NH;
    int t = row % T, h = (row / T) % NH, b = row / (T * NH);
    long long offset = ((long long)b * T + t) * C + h * hs;
    float* dq = dqkv + ((long long)b * T + t) * 3 * C + h * hs;
    float sum = 0.0f;
    for (int d = lane; d < hs; d += 32) {
        sum += dout[offset + d] * out[offset + d];
        dq[d] = 0.0f;
    }
    sum = warpSum(sum);
    if (lane == 0) stats[(long long)B * NH * T + row] = sum;
}

// dq: per query row, over the key tiles at or before it. dq = scale * sum_j ds_ij k_j (written, not accumulated),
// ds_ij = p_ij (dout_i . v_j - D_i), p_ij = exp(scale q_i . k_j - lse_i).
template <int P>
__device__ void attentionBackwardQuery(float* dqkv, const float* dout, const float* qkv, const float* stats,
                                       int B, int T, int C, int NH, int hs, float scale, unsigned long long maskKey,
                                       float dropout) {
    constexpr int D = 32 * P;
    __shared__ __align__(16) float keys[STAGE * D];
    __shared__ __align__(16) float values[STAGE * D];
    int tile = gridDim.x - 1 - blockIdx.x;
    int b = blockIdx.y / NH, h = blockIdx.y % NH;
    int part = threadIdx.x % P;
    int i = tile * ROWS + threadIdx.x / P;
    int C3 = 3 * C;
    const float* base = qkv + (long long)b * T * C3 + h * hs;
    bool valid = i < T;
    int warpLastRow = tile * ROWS + ((threadIdx.x | 31) / P);
    float q[32], dy[32], dq[32];
    loadRow(q, base + (long long)i * C3, part, hs, scale * LOG2E, valid);
    loadRow(dy, dout + ((long long)b * T + i) * C + h * hs, part, hs, 1.0f, valid);
#pragma unroll
    for (int d = 0; d < 32; d++) dq[d] = 0.0f;
    long long statRow = ((long long)b * NH + h) * T + i;
    float lse2 = valid ? stats[statRow] * LOG2E : 0.0f;
    float Di = valid ? stats[(long long)B * NH * T + statRow] : 0.0f;
    Dropout drop = dropoutOf(maskKey, dropout);
    unsigned long long dropRow = (unsigned long long)statRow * T;  // mask index of (i, key 0)
    int lastKey = min(T - 1, tile * ROWS + ROWS - 1);
    for (int first = 0; first <= lastKey; first += STAGE) {
        __syncthreads();
        stageRows<D>(keys, base + C, first, T, C3, hs);
        stageRows<D>(values, base + 2 * C, first, T, C3, hs);
        __syncthreads();
        int count = min(STAGE, warpLastRow - first + 1);  // warp-uniform; keys after i get p = 0
        for (int c = 0; c < count; c++) {
            const float* k = keys + c * D + part * 32;
            float s = partsSum<P>(dot32(q, k));
            float p = (valid && first + c <= i) ? exp2f(s - lse2) : 0.0f;
            float dp = partsSum<P>(dot32(dy, values + c * D + part * 32));
            if (drop.on) dp = dropped(drop, dropRow + first + c, dp);
            axpy32(dq, p * (dp - Di), k);
        }
    }
    if (!valid) return;
    float* g = dqkv + ((long long)b * T + i) * C3 + h * hs;
#pragma unroll
    for (int d = 0; d < 32; d++) {
        int dim = part * 32 + d;
        if (dim < hs) g[dim] = scale * dq[d];
    }
}

// dk, dv: per key row j, over the query tiles at or after it.
// dv_j = sum_i p_ij dout_i, dk_j = scale * sum_i ds_ij q_i (written, not accumulated).
template <int P>
__device__ void attentionBackwardKeyValue(float* dqkv, const float* dout, const float* qkv, const float* stats,
                                          int B, int T, int C, int NH, int hs, float scale, unsigned long long maskKey,
                                          float dropout) {
    constexpr int D = 32 * P;
    __shared__ __align__(16) float queries[STAGE * D];
    __shared__ __align__(16) float douts[STAGE * D];
    __shared__ float lse2s[STAGE], Ds[STAGE];
    int tile = blockIdx.x;  // the earliest keys have the most queries: first
    int b = blockIdx.y / NH, h = blockIdx.y % NH;
    int part = threadIdx.x % P;
    int j = tile * ROWS + threadIdx.x / P;
    int C3 = 3 * C;
    const float* base = qkv + (long long)b * T * C3 + h * hs;
    const float* doutBase = dout + (long long)b * T * C + h * hs;
    bool valid = j < T;
    int warpFirstRow = tile * ROWS + ((threadIdx.x & ~31) / P);
    float k[32], v[32], dk[32], dv[32];
    loadRow(k, base + (long long)j * C3 + C, part, hs, scale * LOG2E, valid);
    loadRow(v, base + (long long)j * C3 + 2 * C, part, hs, 1.0f, valid);
#pragma unroll
    for (int d = 0; d < 32; d++) { dk[d] = 0.0f; dv[d] = 0.0f; }
    long long statBase = ((long long)b * NH + h) * T;
    long long dBase = (long long)B * NH * T + statBase;
    Dropout drop = dropoutOf(maskKey, dropout);
    for (int first = tile * ROWS; first < T; first += STAGE) {
        __syncthreads();
        for (int idx = threadIdx.x; idx < STAGE * D; idx += blockDim.x) {
            int r = idx / D, d = idx % D;
            int t = first + r;
            bool inside = t < T && d < hs;
            queries[idx] = inside ? base[(long long)t * C3 + d] : 0.0f;
            douts[idx] = inside ? doutBase[(long long)t * C + d] : 0.0f;
        }
        for (int r = threadIdx.x; r < STAGE; r += blockDim.x) {
            int t = first + r;
            lse2s[r] = t < T ? stats[statBase + t] * LOG2E : 0.0f;
            Ds[r] = t < T ? stats[dBase + t] : 0.0f;
        }
        __syncthreads();
        int start = max(0, warpFirstRow - first);  // warp-uniform; queries before j get p = 0
        int end = min(STAGE, T - first);
        for (int c = start; c < end; c++) {
            const float* qrow = queries + c * D + part * 32;
            const float* dyrow = douts + c * D + part * 32;
            float s = partsSum<P>(dot32(k, qrow));
            float p = (valid && first + c >= j) ? exp2f(s - lse2s[c]) : 0.0f;
            float dp = partsSum<P>(dot32(v, dyrow));
            if (drop.on) {
                unsigned long long at = ((unsigned long long)statBase + first + c) * T + j;  // (query, key j)
                axpy32(dv, dropped(drop, at, p), dyrow);
                dp = dropped(drop, at, dp);
            } else {
                axpy32(dv, p, dyrow);
            }
            axpy32(dk, p * (dp - Ds[c]), qrow);
        }
    }
    if (!valid) return;
    float* g = dqkv + ((long long)b * T + j) * C3 + h * hs;
#pragma unroll
    for (int d = 0; d < 32; d++) {
        int dim = part * 32 + d;
        if (dim < hs) {
            g[C + dim] = scale * dk[d];
            g[2 * C + dim] = dv[d];
        }
    }
}

#define ATTENTION_KERNELS(P)                                                                                        \
    extern "C" __global__ void __launch_bounds__(ROWS * P) attention_forward_##P(                                    \
            float* out, float* stats, const float* qkv, int B, int T, int C, int NH, float scale,                   \
            unsigned long long maskKey, float dropout) {                                                                \
        attentionForward<P>(out, stats, qkv, B, T, C, NH, C / NH, scale, maskKey, dropout);                             \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(ROWS * P) attention_backward_query_##P(                             \
            float* dqkv, const float* dout, const float* qkv, const float* stats, int B, int T, int C, int NH,       \
            float scale, unsigned long long maskKey, float dropout) {                                                   \
        attentionBackwardQuery<P>(dqkv, dout, qkv, stats, B, T, C, NH, C / NH, scale, maskKey, dropout);                \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(ROWS * P) attention_backward_key_value_##P(                         \
            float* dqkv, const float* dout, const float* qkv, const float* stats, int B, int T, int C, int NH,       \
            float scale, unsigned long long maskKey, float dropout) {                                                   \
        attentionBackwardKeyValue<P>(dqkv, dout, qkv, stats, B, T, C, NH, C / NH, scale, maskKey, dropout);             \
    }

ATTENTION_KERNELS(4)  // head sizes 65 to 128; the tensor-core kernels below serve up to 64

// ---- tensor-core path (head size up to 64) ---------------------------------------------------------------------
// The same algorithm on bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation), as PyTorch autocast's fused
// attention: blocks of 4 warps, 64 rows per block, 16 per warp; the other side staged 64 rows at a time in
// shared memory as bf16 [row][D + 8] (the padding keeps ldmatrix free of bank conflicts). Head dims are padded
// with zeros up to D = 16, 32 or 64. Scores, softmax statistics and the outputs stay fp32.

#define TC_ROWS 64
#define TC_THREADS 128

// Stages rows [first, first + 64) of a head (hs dims, row stride `stride` floats) as bf16 [64][D + 8], zero past
// T and hs.
template <int D>
__device__ __forceinline__ void stageBf16(__nv_bfloat16* s, const float* base, int first, int T, int stride, int hs) {
    constexpr int S = D + 8;
    for (int idx = threadIdx.x; idx < TC_ROWS * D / 4; idx += TC_THREADS) {
        int r = idx / (D / 4), d = (idx % (D / 4)) * 4;
        int t = first + r;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
        if (t < T && d < hs) {
            const float* p = base + (long long)t * stride + d;
            if (d + 4 <= hs && ((reinterpret_cast<unsigned long long>(p) & 15) == 0)) {
                v = *reinterpret_cast<const float4*>(p);
            } else {
                v.x = p[0];
                if (d + 1 < hs) v.y = p[1];
                if (d + 2 < hs) v.z = p[2];
                if (d + 3 < hs) v.w = p[3];
            }
        }
        *reinterpret_cast<uint2*>(s + r * S + d) = make_uint2(packBf16(v.x, v.y), packBf16(v.z, v.w));
    }
}

// A fragments (16 rows x D) of rows [row0, row0 + 16) of a staged tile.
template <int D>
__device__ __forceinline__ void loadA(u32 (*frag)[4], const __nv_bfloat16* s, int row0) {
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) Fragments<true, TC_ROWS, D>::a(frag[kc], s, row0, kc * 16);
}

// acc (16 x 64) += A (16 x D, fragments) . rows^T, rows a staged [64][D + 8] tile: scores against 64 rows.
template <int D>
__device__ __forceinline__ void productWithRows(float (*acc)[4], const u32 (*a)[4], const __nv_bfloat16* rows) {
#pragma unroll
    for (int kc = 0; kc < D / 16; kc++) {
#pragma unroll
        for (int np = 0; np < 4; np++) {
            u32 b[4];
            Fragments<true, TC_ROWS, D>::b(b, rows, np * 16, kc * 16);
            mma16816(acc[2 * np], a[kc], b[0], b[1]);
            mma16816(acc[2 * np + 1], a[kc], b[2], b[3]);
        }
    }
}

// acc (16 x D) += P (16 x 64, accumulator layout, converted to bf16) . rows (a staged [64][D + 8] tile).
template <int D>
__device__ __forceinline__ void productOfWeights(float (*acc)[4], const float (*p)[4], const __nv_bfloat16* rows) {
#pragma unroll
    for (int kc = 0; kc < 4; kc++) {
        u32 a[4] = {packBf16(p[2 * kc][0], p[2 * kc][1]), packBf16(p[2 * kc][2], p[2 * kc][3]),
                    packBf16(p[2 * kc + 1][0], p[2 * kc + 1][1]), packBf16(p[2 * kc + 1][2], p[2 * kc + 1][3])};
#pragma unroll
        for (int dp = 0; dp < D / 16; dp++) {
            u32 b[4];
            Fragments<false, D, TC_ROWS>::b(b, rows, dp * 16, kc * 16);  // rows read as [k = row][n = dim]
            mma16816(acc[2 * dp], a, b[0], b[1]);
            mma16816(acc[2 * dp + 1], a, b[2], b[3]);
        }
    }
}

// Stages rows [first, first + 64) of a head into s as bf16 [64][D + 8], zero past T and hs. From a bf16 copy
// (BF16: asynchronous 16-byte copies; hs, the head offset and the row stride are multiples of 8) or from the
// fp32 tensor itself (converted by the threads, synchronously).
template <int D, bool BF16>
__device__ __forceinline__ void stageRowsTc(__nv_bfloat16* s, const void* base, int first, int T, int stride, int hs) {
    if (BF16) {
        const __nv_bfloat16* b = static_cast<const __nv_bfloat16*>(base);
        for (int idx = threadIdx.x; idx < TC_ROWS * D / 8; idx += TC_THREADS) {
            int r = idx / (D / 8), d = (idx % (D / 8)) * 8;
            int t = first + r;
            bool inside = t < T && d < hs;
            copyAsync16(s + r * (D + 8) + d, inside ? b + (long long)t * stride + d : b, inside);
        }
    } else {
        stageBf16<D>(s, static_cast<const float*>(base), first, T, stride, hs);
    }
}

// The element offset of a head's slice in a (B, T, stride) tensor, as a pointer of the tensor's element type.
template <bool BF16>
__device__ __forceinline__ const void* headBase(const void* tensor, long long elements) {
    if (BF16) return static_cast<const __nv_bfloat16*>(tensor) + elements;
    return static_cast<const float*>(tensor) + elements;
}

template <int N>
__device__ __forceinline__ void zero(float (*acc)[4]) {
#pragma unroll
    for (int i = 0; i < N; i++) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
}

// Writes this thread's part of a warp's 16 x D accumulators (its rows row0 and row0 + 8) into rows of dst (row
// stride `stride` floats): dst = acc * factor (factor0 for row0, factor1 for row0 + 8); rows at or past T and dims
// at or past hs are left alone.
template <int D>
__device__ __forceinline__ void storeRows(float* dst, long long stride, const float (*acc)[4], float factor0,
                                          float factor1, int row0, int T, int hs) {
    int tg = threadIdx.x & 3;
#pragma unroll
    for (int nt = 0; nt < D / 8; nt++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int row = e < 2 ? row0 : row0 + 8;
            int d = nt * 8 + 2 * tg + (e & 1);
            if (row < T && d < hs) {
                float* p = dst + row * stride + d;
                float v = acc[nt][e] * (e < 2 ? factor0 : factor1);
                *p = v;
            }
        }
    }
}

// The double-buffered key/value tiles of forward: starts the copy of tile kt + 1 (if there is one) into
// the other buffers, waits for tile kt, then a barrier.
template <int D, bool BF16>
__device__ __forceinline__ void nextKeyValueTile(__nv_bfloat16 (*keys)[TC_ROWS * (D + 8)],
                                                 __nv_bfloat16 (*values)[TC_ROWS * (D + 8)], const void* kBase,
                                                 const void* vBase, int kt, int tiles, int T, int stride, int hs) {
    if (kt + 1 < tiles) {
        stageRowsTc<D, BF16>(keys[(kt + 1) & 1], kBase, (kt + 1) * TC_ROWS, T, stride, hs);
        stageRowsTc<D, BF16>(values[(kt + 1) & 1], vBase, (kt + 1) * TC_ROWS, T, stride, hs);
        commitCopies();
        waitCopiesButLast();
    } else {
        waitCopies();
    }
    __syncthreads();
}

// The weights p (a warp's 16 query rows x 64 keys from k0, in the accumulator layout: rows row0 and row0 + 8) times
// their dropout mask, element (head + query) T + key.
__device__ __forceinline__ void dropWeights(float (*p)[4], const Dropout& drop, unsigned long long head, int row0,
                                            int k0, int T) {
    int tg = threadIdx.x & 3;
#pragma unroll
    for (int i = 0; i < 32; i++) {
        int nt = i >> 2, e = i & 3;
        unsigned long long row = head + (e < 2 ? row0 : row0 + 8);
        p[nt][e] = dropped(drop, row * T + k0 + nt * 8 + 2 * tg + (e & 1), p[nt][e]);
    }
}

// Forward: 64 query rows per block (16 per warp); key and value tiles double-buffered in shared memory, the
// next tile's copy in flight while the current one is used.
template <int D, bool BF16>
__device__ void attentionForwardTc(float* out, float* stats, const void* qkv, int B, int T, int C, int NH,
                                   float scale, unsigned long long maskKey, float dropout) {
    constexpr int S = D + 8;
    __shared__ __align__(16) __nv_bfloat16 keys[2][TC_ROWS * S], values[2][TC_ROWS * S];
    int tile = gridDim.x - 1 - blockIdx.x;
    int b = blockIdx.y / NH, h = blockIdx.y % NH, hs = C / NH, C3 = 3 * C;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
    long long head = (long long)b * T * C3 + h * hs;
    const void* qBase = headBase<BF16>(qkv, head);
    const void* kBase = headBase<BF16>(qkv, head + C);
    const void* vBase = headBase<BF16>(qkv, head + 2 * C);
    int q0 = tile * TC_ROWS;
    int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    int warpLastRow = q0 + warp * 16 + 15;
    int lastKey = min(T - 1, q0 + TC_ROWS - 1);
    int keyTiles = lastKey / TC_ROWS + 1;
    stageRowsTc<D, BF16>(keys[1], qBase, q0, T, C3, hs);  // the queries pass through the second key buffer
    stageRowsTc<D, BF16>(keys[0], kBase, 0, T, C3, hs);
    stageRowsTc<D, BF16>(values[0], vBase, 0, T, C3, hs);
    commitCopies();
    waitCopies();
    __syncthreads();
    u32 q[D / 16][4];
    loadA<D>(q, keys[1], warp * 16);
    __syncthreads();
    float o[D / 8][4];
    zero<D / 8>(o);
    float m0 = -CUDART_INF_F, m1 = -CUDART_INF_F, l0 = 0.0f, l1 = 0.0f;
    float scaleLog2 = scale * LOG2E;
    Dropout drop = dropoutOf(maskKey, dropout);
    unsigned long long dropHead = ((unsigned long long)b * NH + h) * T;  // mask index of (query t, key j): (dropHead + t) T + j
    for (int kt = 0; kt < keyTiles; kt++) {
        int k0 = kt * TC_ROWS;
        nextKeyValueTile<D, BF16>(keys, values, kBase, vBase, kt, keyTiles, T, C3, hs);
        if (k0 <= warpLastRow) {  // else every key of this tile is in the future of the warp's rows
            float s[8][4];
            zero<8>(s);
            productWithRows<D>(s, q, keys[kt & 1]);
            float max0 = -CUDART_INF_F, max1 = -CUDART_INF_F;
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int row = e < 2 ? row0 : row1;
                    int col = k0 + nt * 8 + 2 * tg + (e & 1);
                    float v = (col <= row && col < T) ? s[nt][e] * scaleLog2 : -CUDART_INF_F;
                    s[nt][e] = v;
                    if (e < 2) max0 = fmaxf(max0, v); else max1 = fmaxf(max1, v);
                }
            }
            max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, 1));
            max0 = fmaxf(max0, __shfl_xor_sync(0xffffffffu, max0, 2));
            max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, 1));
            max1 = fmaxf(max1, __shfl_xor_sync(0xffffffffu, max1, 2));
            float new0 = fmaxf(m0, max0), new1 = fmaxf(m1, max1);  // finite: key 0 precedes every row
            float c0 = exp2f(m0 - new0), c1 = exp2f(m1 - new1);
            m0 = new0;
            m1 = new1;
            l0 *= c0;
            l1 *= c1;
#pragma unroll
            for (int i = 0; i < D / 8; i++) { o[i][0] *= c0; o[i][1] *= c0; o[i][2] *= c1; o[i][3] *= c1; }
#pragma unroll
            for (int nt = 0; nt < 8; nt++) {
                s[nt][0] = exp2f(s[nt][0] - m0);
                s[nt][1] = exp2f(s[nt][1] - m0);
                s[nt][2] = exp2f(s[nt][2] - m1);
                s[nt][3] = exp2f(s[nt][3] - m1);
                l0 += s[nt][0] + s[nt][1];
                l1 += s[nt][2] + s[nt][3];
            }
            if (drop.on) dropWeights(s, drop, dropHead, row0, k0, T);
            productOfWeights<D>(o, s, values[kt & 1]);
        }
        __syncthreads();  // the buffers of this tile are refilled next
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    storeRows<D>(out + (long long)b * T * C + h * hs, C, o, 1.0f / l0, 1.0f / l1, row0, T, hs);
    if (tg == 0) {
        long long statRow = ((long long)b * NH + h) * T;
        if (row0 < T) stats[statRow + row0] = (m0 + log2f(l0)) * LN2;
        if (row1 < T) stats[statRow + row1] = (m1 + log2f(l1)) * LN2;
    }
}

// One-pass backward (FlashAttention-2's): per block 64 key rows (16 per warp, K and V kept as A fragments in
// registers, K also in shared memory), over the query tiles at or after them, double-buffered. Per query tile:
// S^T = K Q^T and dP^T = V dO^T (16 keys x 64 queries per warp), P^T = exp(S^T scale - lse), dS^T = P^T (dP^T - D);
// dV += P^T dO and dK += dS^T Q stay in registers; dS^T goes to shared memory (bf16), from which each warp takes
// dQ of its 16 queries over the block's 64 keys, dQ = dS K, added into dqkv with atomics (zeroed by the preprocess
// kernel). So QK^T and dO V^T are computed once. Query tiles wholly before the block's keys are never visited; on
// the diagonal tile a warp's dQ skips the key chunks after its queries.
// Dynamic shared memory: queries[2], douts[2], keys ([64][D + 8] bf16 each), dS^T [64][72] bf16, lse and D [2][64].
#define DS_STRIDE (TC_ROWS + 8)

// p[0] += x (if d < hs) and p[1] += y (if d + 1 < hs) with atomics; on Hopper one 8-byte vector reduction
// (red.global.add.v2.f32, sm_90) where both are inside and p is 8-byte aligned.
__device__ __forceinline__ void addPair(float* p, float x, float y, int d, int hs) {
#ifdef STREAMTRAIN_HOPPER
    if (d + 1 < hs && (reinterpret_cast<unsigned long long>(p) & 7) == 0) {
        asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" :: "l"(p), "f"(x), "f"(y) : "memory");
        return;
    }
#endif
    if (d < hs) atomicAdd(p, x);
    if (d + 1 < hs) atomicAdd(p + 1, y);
}

template <int D, bool BF16>
__device__ void attentionBackwardOnePassTc(float* dqkv, const void* dout, const void* qkv, const float* stats,
                                           int B, int T, int C, int NH, float scale, unsigned long long maskKey,
                                           float dropout) {
    constexpr int S = D + 8;
    extern __shared__ __align__(16) unsigned char shared[];
    __nv_bfloat16* queries = reinterpret_cast<__nv_bfloat16*>(shared);  // [2][64 * S]
    __nv_bfloat16* douts = queries + 2 * TC_ROWS * S;                    // [2][64 * S]
    __nv_bfloat16* keys = douts + 2 * TC_ROWS * S;                       // [64 * S]
    __nv_bfloat16* dst = keys + TC_ROWS * S;                             // [64 keys][DS_STRIDE]: dS^T
    float* lse2s = reinterpret_cast<float*>(dst + TC_ROWS * DS_STRIDE);  // [2][64]
    float* Ds = lse2s + 2 * TC_ROWS;                                     // [2][64]
    int tile = blockIdx.x;  // the earliest keys have the most queries: first
    int b = blockIdx.y / NH, h = blockIdx.y % NH, hs = C / NH, C3 = 3 * C;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
    long long head = (long long)b * T * C3 + h * hs;
    const void* qBase = headBase<BF16>(qkv, head);
    const void* doutBase = headBase<BF16>(dout, (long long)b * T * C + h * hs);
    float* dqBase = dqkv + head;
    int k0 = tile * TC_ROWS;
    int key0 = k0 + warp * 16 + g, key1 = key0 + 8;
    long long statRow = ((long long)b * NH + h) * T;
    const float* lse = stats + statRow;
    const float* Dstat = stats + (long long)B * NH * T + statRow;
    int queryTiles = (T - 1) / TC_ROWS - tile + 1;  // query tiles k0, k0 + 64, ... below T
    // the keys stay in their buffer; the values pass through the second dout buffer; the first query tile goes to
    // the first buffers
    stageRowsTc<D, BF16>(keys, headBase<BF16>(qkv, head + C), k0, T, C3, hs);
    stageRowsTc<D, BF16>(douts + TC_ROWS * S, headBase<BF16>(qkv, head + 2 * C), k0, T, C3, hs);
    stageRowsTc<D, BF16>(queries, qBase, k0, T, C3, hs);
    stageRowsTc<D, BF16>(douts, doutBase, k0, T, C, hs);
    for (int r = threadIdx.x; r < TC_ROWS; r += TC_THREADS) {
        int t = k0 + r;
        lse2s[r] = t < T ? lse[t] * LOG2E : 0.0f;
        Ds[r] = t < T ? Dstat[t] : 0.0f;
    }
    commitCopies();
    waitCopies();
    __syncthreads();
    u32 k[D / 16][4], v[D / 16][4];
    loadA<D>(k, keys, warp * 16);
    loadA<D>(v, douts + TC_ROWS * S, warp * 16);
    __syncthreads();
    float dk[D / 8][4], dv[D / 8][4];
    zero<D / 8>(dk);
    zero<D / 8>(dv);
    float scaleLog2 = scale * LOG2E;
    Dropout drop = dropoutOf(maskKey, dropout);
    for (int qt = 0; qt < queryTiles; qt++) {
        int q0 = k0 + qt * TC_ROWS;
        int current = qt & 1, next = current ^ 1;
        __nv_bfloat16* qTile = queries + current * TC_ROWS * S;
        __nv_bfloat16* doTile = douts + current * TC_ROWS * S;
        const float* lseTile = lse2s + current * TC_ROWS;
        const float* dTile = Ds + current * TC_ROWS;
        if (qt + 1 < queryTiles) {
            stageRowsTc<D, BF16>(queries + next * TC_ROWS * S, qBase, q0 + TC_ROWS, T, C3, hs);
            stageRowsTc<D, BF16>(douts + next * TC_ROWS * S, doutBase, q0 + TC_ROWS, T, C, hs);
            for (int r = threadIdx.x; r < TC_ROWS; r += TC_THREADS) {
                int t = q0 + TC_ROWS + r;
                lse2s[next * TC_ROWS + r] = t < T ? lse[t] * LOG2E : 0.0f;
                Ds[next * TC_ROWS + r] = t < T ? Dstat[t] : 0.0f;
            }
            commitCopies();
            waitCopiesButLast();
        } else {
            waitCopies();
        }
        __syncthreads();
        float st[8][4], dpt[8][4];  // (16 keys, 64 queries): scores, then probabilities; dp, then ds
        zero<8>(st);
        zero<8>(dpt);
        productWithRows<D>(st, k, qTile);
        productWithRows<D>(dpt, v, doTile);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = e < 2 ? key0 : key1;
                int c = nt * 8 + 2 * tg + (e & 1);
                int query = q0 + c;
                float p = (query >= key && query < T) ? exp2f(st[nt][e] * scaleLog2 - lseTile[c]) : 0.0f;
                if (drop.on) {  // dv takes the dropped weights, ds the dropped dp (see the top of the file)
                    unsigned long long at = ((unsigned long long)statRow + query) * T + key;
                    st[nt][e] = dropped(drop, at, p);
                    dpt[nt][e] = p * (dropped(drop, at, dpt[nt][e]) - dTile[c]);
                } else {
                    st[nt][e] = p;
                    dpt[nt][e] = p * (dpt[nt][e] - dTile[c]);
                }
            }
        }
        productOfWeights<D>(dv, st, doTile);
        productOfWeights<D>(dk, dpt, qTile);
        // dS^T of the warp's 16 keys into shared memory, for dQ
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            int column = nt * 8 + 2 * tg;
            *reinterpret_cast<u32*>(dst + (warp * 16 + g) * DS_STRIDE + column) = packBf16(dpt[nt][0], dpt[nt][1]);
            *reinterpret_cast<u32*>(dst + (warp * 16 + g + 8) * DS_STRIDE + column) = packBf16(dpt[nt][2], dpt[nt][3]);
        }
        __syncthreads();
        // dQ (16 queries of this warp x D) = dS (queries x 64 keys) . K; key chunks after the warp's queries are 0
        int firstQuery = q0 + warp * 16;
        if (firstQuery < T) {
            int chunks = min(4, (firstQuery + 15 - k0) / 16 + 1);
            float dq[D / 8][4];
            zero<D / 8>(dq);
            for (int kc = 0; kc < chunks; kc++) {
                u32 a[4];
                Fragments<false, TC_ROWS, TC_ROWS>::a(a, dst, warp * 16, kc * 16);  // dS^T read as [k = key][m = query]
#pragma unroll
                for (int dp = 0; dp < D / 16; dp++) {
                    u32 bk[4];
                    Fragments<false, D, TC_ROWS>::b(bk, keys, dp * 16, kc * 16);  // keys read as [k = key][n = dim]
                    mma16816(dq[2 * dp], a, bk[0], bk[1]);
                    mma16816(dq[2 * dp + 1], a, bk[2], bk[3]);
                }
            }
#pragma unroll
            for (int nt = 0; nt < D / 8; nt++) {
#pragma unroll
                for (int half = 0; half < 2; half++) {
                    int row = firstQuery + g + 8 * half, d = nt * 8 + 2 * tg;
                    if (row < T) addPair(dqBase + (long long)row * C3 + d, scale * dq[nt][2 * half],
                                         scale * dq[nt][2 * half + 1], d, hs);
                }
            }
        }
        __syncthreads();  // the buffers of this tile and dS^T are refilled next
    }
    float* keyRows = dqkv + head + C;
    storeRows<D>(keyRows, C3, dk, scale, scale, key0, T, hs);
    storeRows<D>(keyRows + C, C3, dv, 1.0f, 1.0f, key0, T, hs);
}

// Kernels per padded head dim D: from fp32 qkv and dout (_tc_D), or from bf16 copies of them (_tc_bf16_D).
#define ATTENTION_TC_KERNELS(D, SUFFIX, BF16, T_IN)                                                                \
    extern "C" __global__ void __launch_bounds__(TC_THREADS) attention_forward_##SUFFIX##D(                       \
            float* out, float* stats, const T_IN* qkv, int B, int T, int C, int NH, float scale,                  \
            unsigned long long maskKey, float dropout) {                                                          \
        attentionForwardTc<D, BF16>(out, stats, qkv, B, T, C, NH, scale, maskKey, dropout);                       \
    }                                                                                                             \
    extern "C" __global__ void __launch_bounds__(TC_THREADS) attention_backward_##SUFFIX##D(                      \
            float* dqkv, const T_IN* dout, const T_IN* qkv, const float* stats, int B, int T, int C, int NH,       \
            float scale, unsigned long long maskKey, float dropout) {                                             \
        attentionBackwardOnePassTc<D, BF16>(dqkv, dout, qkv, stats, B, T, C, NH, scale, maskKey, dropout);        \
    }

ATTENTION_TC_KERNELS(16, tc_, false, float)
ATTENTION_TC_KERNELS(32, tc_, false, float)
ATTENTION_TC_KERNELS(64, tc_, false, float)
ATTENTION_TC_KERNELS(16, tc_bf16_, true, __nv_bfloat16)
ATTENTION_TC_KERNELS(32, tc_bf16_, true, __nv_bfloat16)
ATTENTION_TC_KERNELS(64, tc_bf16_, true, __nv_bfloat16)
