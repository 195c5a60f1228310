// Matrix products on tensor cores: bf16 operands, fp32 accumulation, fp32 in memory (as PyTorch autocast).
//
// One kernel family computes out (M, N) (+)= A (M, K) . B (K, N) (+ bias (N)), where each operand is read
// either K-contiguous ("KC": A[m * lda + k], B[n * ldb + k]) or M/N-contiguous (A[k * lda + m], B[k * ldb + n]).
// The three products of a linear layer out (N, OC) = inp (N, C) . weight (OC, C)^T are:
//   forward  out (N, OC)   = inp (N, C) . weight^T         A KC, B KC
//   dinp     (N, C)       += dout (N, OC) . weight (OC, C)  A KC, B N-contiguous
//   dweight  (OC, C)      += dout^T (OC, N) . inp (N, C)    A M-contiguous, B N-contiguous
// Tiles of 128 x 128 x 32 per block of 8 warps (2 x 4, each 64 x 32); fp32 tiles are converted to bf16
// when staged in shared memory, double-buffered through registers; mma.sync m16n8k16 does the products.
// K-contiguous tiles are kept [row][k] in shared memory, the others [k][row], so that every global
// load is a coalesced 16-byte load and every shared store 8 bytes wide; ldmatrix (.trans for [k][row])
// reads the fragments, rows padded by 16 bytes against bank conflicts.
#include "common.cuh"
#include "tensorcore.cuh"

#define BM 128
#define BN 128
#define BK 32
#define PAD 8
#define THREADS 256

// Loads 4 consecutive floats p[0..3] of which only the first `valid` exist (zero beyond).
__device__ __forceinline__ float4 load4(const float* p, int valid) {
    if (valid >= 4 && ((reinterpret_cast<unsigned long long>(p) & 15) == 0)) return *reinterpret_cast<const float4*>(p);
    float4 r = make_float4(0.f, 0.f, 0.f, 0.f);
    if (valid > 0) r.x = p[0];
    if (valid > 1) r.y = p[1];
    if (valid > 2) r.z = p[2];
    if (valid > 3) r.w = p[3];
    return r;
}

// A tile of one operand: ROWS (M or N) x BK, read from global memory as 4 float4 per thread.
// KC: element (row, k) at base[row * ld + k]; else at base[k * ld + row].
template <bool KC>
struct Tile {
    // shared layout: KC -> [ROWS][BK + PAD], else [BK][ROWS + PAD] (bf16)
    static constexpr int SIZE = KC ? BM * (BK + PAD) : BK * (BM + PAD);
    float4 regs[4];

    __device__ __forceinline__ void load(const float* base, int ld, int row0, int rows, int k0, int K) {
        int t = threadIdx.x;
#pragma unroll
        for (int it = 0; it < 4; it++) {
            if (KC) {
                int r = t / 8 + 32 * it, k = k0 + (t % 8) * 4;
                int row = row0 + r;
                regs[it] = row < rows ? load4(base + (long long)row * ld + k, K - k) : make_float4(0.f, 0.f, 0.f, 0.f);
            } else {
                int k = k0 + t / 32 + 8 * it, r = (t % 32) * 4;
                int row = row0 + r;
                regs[it] = k < K ? load4(base + (long long)k * ld + row, rows - row) : make_float4(0.f, 0.f, 0.f, 0.f);
            }
        }
    }

    __device__ __forceinline__ void store(__nv_bfloat16* s) const {
        int t = threadIdx.x;
#pragma unroll
        for (int it = 0; it < 4; it++) {
            uint2 packed = make_uint2(packBf16(regs[it].x, regs[it].y), packBf16(regs[it].z, regs[it].w));
            if (KC) {
                int r = t / 8 + 32 * it, k = (t % 8) * 4;
                *reinterpret_cast<uint2*>(s + r * (BK + PAD) + k) = packed;
            } else {
                int k = t / 32 + 8 * it, r = (t % 32) * 4;
                *reinterpret_cast<uint2*>(s + k * (BM + PAD) + r) = packed;
            }
        }
    }

    typedef Fragments<KC, BM, BK> Fragment;
};

// acc (the warp's 64 x 32) += the BK-deep product of one staged pair of tiles.
template <bool A_KC, bool B_KC>
__device__ __forceinline__ void computeTile(float (*acc)[4][4], const __nv_bfloat16* sa, const __nv_bfloat16* sb,
                                            int warpM, int warpN) {
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
        u32 a[4][4], b[4][2];
#pragma unroll
        for (int i = 0; i < 4; i++) Tile<A_KC>::Fragment::a(a[i], sa, warpM + i * 16, kk);
#pragma unroll
        for (int jp = 0; jp < 2; jp++) {
            u32 r[4];
            Tile<B_KC>::Fragment::b(r, sb, warpN + jp * 16, kk);
            b[2 * jp][0] = r[0];
            b[2 * jp][1] = r[1];
            b[2 * jp + 1][0] = r[2];
            b[2 * jp + 1][1] = r[3];
        }
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int j = 0; j < 4; j++) mma16816(acc[i][j], a[i], b[j][0], b[j][1]);
    }
}

// Writes the warp's 64 x 32 accumulators at (mBase, nBase): out = acc + bias, or out += acc (atomically when
// the K range is split over blocks).
template <bool ACCUMULATE>
__device__ __forceinline__ void storeTile(float (*acc)[4][4], float* out, const float* bias, int M, int N, int ldo,
                                          int mBase, int nBase) {
    int lane = threadIdx.x & 31, g = lane >> 2, tg = lane & 3;
    bool split = gridDim.z > 1;
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int m = mBase + i * 16 + g + half * 8;
                int n = nBase + j * 8 + 2 * tg;
                if (m >= M) continue;
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    if (n + e >= N) continue;
                    float value = acc[i][j][half * 2 + e];
                    float* o = out + (long long)m * ldo + n + e;
                    if (ACCUMULATE) {
                        if (split) atomicAdd(o, value); else *o += value;
                    } else {
                        *o = value + (bias != nullptr ? bias[n + e] : 0.0f);
                    }
                }
            }
        }
    }
}

template <bool A_KC, bool B_KC, bool ACCUMULATE>
__device__ __forceinline__ void matmul(float* out, const float* A, const float* Bm, const float* bias,
                                       int M, int N, int K, int lda, int ldb, int ldo, int kPerSplit) {
    __shared__ __align__(16) __nv_bfloat16 sharedA[2][Tile<A_KC>::SIZE];
    __shared__ __align__(16) __nv_bfloat16 sharedB[2][Tile<B_KC>::SIZE];
    int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
    int kBegin = blockIdx.z * kPerSplit;
    int kEnd = min(K, kBegin + kPerSplit);
    int warp = threadIdx.x >> 5;
    int warpM = (warp >> 2) * 64, warpN = (warp & 3) * 32;

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    Tile<A_KC> tileA;
    Tile<B_KC> tileB;
    int tiles = kEnd > kBegin ? (kEnd - kBegin + BK - 1) / BK : 0;
    if (tiles > 0) {
        tileA.load(A, lda, m0, M, kBegin, kEnd);
        tileB.load(Bm, ldb, n0, N, kBegin, kEnd);
        tileA.store(sharedA[0]);
        tileB.store(sharedB[0]);
    }
    __syncthreads();
    for (int kt = 0; kt < tiles; kt++) {
        int current = kt & 1;
        bool more = kt + 1 < tiles;
        if (more) {
            tileA.load(A, lda, m0, M, kBegin + (kt + 1) * BK, kEnd);
            tileB.load(Bm, ldb, n0, N, kBegin + (kt + 1) * BK, kEnd);
        }
        computeTile<A_KC, B_KC>(acc, sharedA[current], sharedB[current], warpM, warpN);
        if (more) {
            tileA.store(sharedA[current ^ 1]);
            tileB.store(sharedB[current ^ 1]);
        }
        __syncthreads();
    }

    storeTile<ACCUMULATE>(acc, out, bias, M, N, ldo, m0 + warpM, n0 + warpN);
}

// out (M, N) = A (M, K) . B (N, K)^T + bias: the forward of a linear layer.
extern "C" __global__ void __launch_bounds__(THREADS) matmul_forward(float* out, const float* inp, const float* weight,
        const float* bias, int M, int N, int K) {
    matmul<true, true, false>(out, inp, weight, bias, M, N, K, K, K, N, K);
}

// dinp (M, K') += dout (M, OC) . weight (OC, K'): here N is C and K is OC.
extern "C" __global__ void __launch_bounds__(THREADS) matmul_backward_input(float* dinp, const float* dout,
        const float* weight, int M, int N, int K, int kPerSplit) {
    matmul<true, false, true>(dinp, dout, weight, nullptr, M, N, K, K, N, N, kPerSplit);
}

// dweight (OC, C) += dout^T (OC, Nrows) . inp (Nrows, C): M is OC, N is C, K is Nrows.
extern "C" __global__ void __launch_bounds__(THREADS) matmul_backward_weight(float* dweight, const float* dout,
        const float* inp, int M, int N, int K, int kPerSplit) {
    matmul<false, false, true>(dweight, dout, inp, nullptr, M, N, K, M, N, N, kPerSplit);
}

// ---- pipelined path: bf16 operands in memory ------------------------------------------------------------------
// For large products whose dimensions are multiples of 8, the operands are first converted to bf16 (to_bf16,
// same layout), then the tiles stream into shared memory with cp.async (16 bytes, zero-filled past the edges)
// through STAGES buffers, so that loads of later tiles overlap the products of the current one: half the bytes
// of the fp32 path through L2, which bounds that path. Block tiles of TM x TN with warps of TM / WARPS_M x
// TN / WARPS_N; 128 x 128 with 8 warps of 64 x 32 measured fastest (model-cuda/NOTES.md). Shared layouts as
// Tile<KC>, with the tile's own row count.


// out (n) = bf16(in (n)), rounded to nearest: 8 elements per thread and step (two 16-byte loads in flight, one
// 16-byte store) where both are 16-byte aligned.
extern "C" __global__ void to_bf16(__nv_bfloat16* out, const float* in, long long n) {
    bool aligned = ((reinterpret_cast<unsigned long long>(in) | reinterpret_cast<unsigned long long>(out)) & 15) == 0;
    for (long long i = 8 * ((long long)blockIdx.x * blockDim.x + threadIdx.x); i < n; i += 8LL * gridDim.x * blockDim.x) {
        if (aligned && i + 8 <= n) {
            float4 a = *reinterpret_cast<const float4*>(in + i);
            float4 b = *reinterpret_cast<const float4*>(in + i + 4);
            *reinterpret_cast<uint4*>(out + i) = make_uint4(packBf16(a.x, a.y), packBf16(a.z, a.w),
                                                            packBf16(b.x, b.y), packBf16(b.z, b.w));
        } else {
            for (long long j = i; j < min(n, i + 8); j++) out[j] = __float2bfloat16_rn(in[j]);
        }
    }
}

// out (n) = float(in (n)): a bf16 copy converted back into its float32 tensor (copy-only values read as float32);
// 8 elements per thread and step where both are 16-byte aligned.
extern "C" __global__ void from_bf16(float* out, const __nv_bfloat16* in, long long n) {
    bool aligned = ((reinterpret_cast<unsigned long long>(in) | reinterpret_cast<unsigned long long>(out)) & 15) == 0;
    for (long long i = 8 * ((long long)blockIdx.x * blockDim.x + threadIdx.x); i < n; i += 8LL * gridDim.x * blockDim.x) {
        if (aligned && i + 8 <= n) {
            uint4 v = *reinterpret_cast<const uint4*>(in + i);
            const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
            float2 a = __bfloat1622float2(h[0]), b = __bfloat1622float2(h[1]);
            float2 c = __bfloat1622float2(h[2]), d = __bfloat1622float2(h[3]);
            *reinterpret_cast<float4*>(out + i) = make_float4(a.x, a.y, b.x, b.y);
            *reinterpret_cast<float4*>(out + i + 4) = make_float4(c.x, c.y, d.x, d.y);
        } else {
            for (long long j = i; j < min(n, i + 8); j++) out[j] = __bfloat162float(in[j]);
        }
    }
}


// One operand's DEPTH-deep tile of ROWS rows in shared memory: KC -> [ROWS][DEPTH + PAD], else [DEPTH][ROWS + PAD].
template <bool KC, int ROWS, int DEPTH>
struct StreamTile {
    static constexpr int SIZE = KC ? ROWS * (DEPTH + PAD) : DEPTH * (ROWS + PAD);

    // Starts the copy of rows [row0, row0 + ROWS) of `rows`, k [k0, k0 + DEPTH) of kEnd, with THREADS_ threads.
    template <int THREADS_>
    static __device__ __forceinline__ void load(__nv_bfloat16* s, const __nv_bfloat16* base, int ld, int row0, int rows,
                                                int k0, int kEnd) {
        constexpr int CHUNKS = ROWS * DEPTH / 8;
#pragma unroll
        for (int c = threadIdx.x; c < CHUNKS; c += THREADS_) {
            if (KC) {
                int r = c / (DEPTH / 8), kc = (c % (DEPTH / 8)) * 8;
                int row = row0 + r, k = k0 + kc;
                bool inside = row < rows && k < kEnd;
                copyAsync16(s + r * (DEPTH + PAD) + kc, inside ? base + (long long)row * ld + k : base, inside);
            } else {
                int kk = c / (ROWS / 8), rc = (c % (ROWS / 8)) * 8;
                int k = k0 + kk, row = row0 + rc;
                bool inside = row < rows && k < kEnd;
                copyAsync16(s + kk * (ROWS + PAD) + rc, inside ? base + (long long)k * ld + row : base, inside);
            }
        }
    }

    typedef Fragments<KC, ROWS, DEPTH> Fragment;
};

// out (M, N) (+)= A . B over k [blockIdx.z * kPerSplit, ...), block tile TM x TN, WARPS_M x WARPS_N warps.
template <bool A_KC, bool B_KC, bool ACCUMULATE, int TM, int TN, int WARPS_M, int WARPS_N, int DEPTH, int NSTAGES>
__device__ __forceinline__ void matmulPipelined(float* out, const __nv_bfloat16* A, const __nv_bfloat16* Bm,
                                                const float* bias, int M, int N, int K, int lda, int ldb, int ldo,
                                                int kPerSplit) {
    constexpr int THREADS_ = 32 * WARPS_M * WARPS_N;
    constexpr int WTM = TM / WARPS_M, WTN = TN / WARPS_N, MI = WTM / 16, NJ = WTN / 8;
    typedef StreamTile<A_KC, TM, DEPTH> TileA;
    typedef StreamTile<B_KC, TN, DEPTH> TileB;
    constexpr int SA = TileA::SIZE, SB = TileB::SIZE;
    extern __shared__ __align__(16) __nv_bfloat16 shared[];
    int m0 = blockIdx.y * TM, n0 = blockIdx.x * TN;
    int kBegin = blockIdx.z * kPerSplit;
    int kEnd = min(K, kBegin + kPerSplit);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int warpM = (warp / WARPS_N) * WTM, warpN = (warp % WARPS_N) * WTN;
    float acc[MI][NJ][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NJ; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
    int tiles = kEnd > kBegin ? (kEnd - kBegin + DEPTH - 1) / DEPTH : 0;
#pragma unroll
    for (int stage = 0; stage < NSTAGES - 1; stage++) {
        if (stage < tiles) {
            __nv_bfloat16* sa = shared + stage * (SA + SB);
            TileA::template load<THREADS_>(sa, A, lda, m0, M, kBegin + stage * DEPTH, kEnd);
            TileB::template load<THREADS_>(sa + SA, Bm, ldb, n0, N, kBegin + stage * DEPTH, kEnd);
        }
        commitCopies();
    }
    for (int kt = 0; kt < tiles; kt++) {
        asm volatile("cp.async.wait_group %0;" :: "n"(NSTAGES - 2));
        __syncthreads();  // tile kt has landed for every thread; the stage refilled below is free
        int next = kt + NSTAGES - 1;
        if (next < tiles) {
            __nv_bfloat16* sa = shared + (next % NSTAGES) * (SA + SB);
            TileA::template load<THREADS_>(sa, A, lda, m0, M, kBegin + next * DEPTH, kEnd);
            TileB::template load<THREADS_>(sa + SA, Bm, ldb, n0, N, kBegin + next * DEPTH, kEnd);
        }
        commitCopies();
        const __nv_bfloat16* sa = shared + (kt % NSTAGES) * (SA + SB);
        const __nv_bfloat16* sb = sa + SA;
#pragma unroll
        for (int kk = 0; kk < DEPTH; kk += 16) {
            u32 a[MI][4], b[NJ][2];
#pragma unroll
            for (int i = 0; i < MI; i++) TileA::Fragment::a(a[i], sa, warpM + i * 16, kk);
#pragma unroll
            for (int jp = 0; jp < NJ / 2; jp++) {
                u32 r[4];
                TileB::Fragment::b(r, sb, warpN + jp * 16, kk);
                b[2 * jp][0] = r[0];
                b[2 * jp][1] = r[1];
                b[2 * jp + 1][0] = r[2];
                b[2 * jp + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NJ; j++) mma16816(acc[i][j], a[i], b[j][0], b[j][1]);
        }
    }
    waitCopies();
    int g = lane >> 2, tg = lane & 3;
    bool split = gridDim.z > 1;
#pragma unroll
    for (int i = 0; i < MI; i++) {
#pragma unroll
        for (int j = 0; j < NJ; j++) {
#pragma unroll
            for (int half = 0; half < 2; half++) {
                int m = m0 + warpM + i * 16 + g + half * 8;
                int n = n0 + warpN + j * 8 + 2 * tg;
                if (m >= M || n >= N) continue;  // N is a multiple of 8 on this path: n + 1 < N too
                float* o = out + (long long)m * ldo + n;
                float v0 = acc[i][j][half * 2], v1 = acc[i][j][half * 2 + 1];
                if (ACCUMULATE) {
                    if (split) { atomicAdd(o, v0); atomicAdd(o + 1, v1); }
                    else { float2 old = *reinterpret_cast<float2*>(o); *reinterpret_cast<float2*>(o) = make_float2(old.x + v0, old.y + v1); }
                } else {
                    float2 add = bias != nullptr ? make_float2(bias[n], bias[n + 1]) : make_float2(0.f, 0.f);
                    *reinterpret_cast<float2*>(o) = make_float2(v0 + add.x, v1 + add.y);
                }
            }
        }
    }
}

// The three products for block tiles TM x TN with warps WM x WN (suffix _TMxTN): as matmul_forward,
// matmul_backward_input and matmul_backward_weight, from bf16 copies of their operands.
#define PIPELINED_KERNELS(TM, TN, WM, WN, DEPTH, NSTAGES)                                                                            \
    extern "C" __global__ void __launch_bounds__(32 * WM * WN) matmul_forward_bf16_##TM##x##TN##x##DEPTH(                       \
            float* out, const __nv_bfloat16* inp, const __nv_bfloat16* weight, const float* bias, int M, int N, int K) { \
        matmulPipelined<true, true, false, TM, TN, WM, WN, DEPTH, NSTAGES>(out, inp, weight, bias, M, N, K, K, K, N, K);             \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(32 * WM * WN) matmul_backward_input_bf16_##TM##x##TN##x##DEPTH(                \
            float* dinp, const __nv_bfloat16* dout, const __nv_bfloat16* weight, int M, int N, int K, int kPerSplit) {  \
        matmulPipelined<true, false, true, TM, TN, WM, WN, DEPTH, NSTAGES>(dinp, dout, weight, nullptr, M, N, K, K, N, N, kPerSplit); \
    }                                                                                                               \
    extern "C" __global__ void __launch_bounds__(32 * WM * WN) matmul_backward_weight_bf16_##TM##x##TN##x##DEPTH(               \
            float* dweight, const __nv_bfloat16* dout, const __nv_bfloat16* inp, int M, int N, int K, int kPerSplit) {  \
        matmulPipelined<false, false, true, TM, TN, WM, WN, DEPTH, NSTAGES>(dweight, dout, inp, nullptr, M, N, K, M, N, N, kPerSplit); \
    }

// Warps of 64 x 32, tiles 64 deep through 3 stages: faster here than 64 x 64 warps (4 warps, or 128 x 256 tiles)
// and than 32-deep tiles through 4 stages (model-cuda/NOTES.md).
PIPELINED_KERNELS(128, 128, 2, 4, 64, 3)

// dbias (OC) += column sums of dout (Nrows, OC): blocks of 32 x 8 threads over 32 columns and a
// stripe of rows, summed in shared memory, then added once per block.
extern "C" __global__ void matmul_backward_bias(float* dbias, const float* dout, int Nrows, int OC, int rowsPerBlock) {
    __shared__ float partial[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    int rowBegin = blockIdx.y * rowsPerBlock;
    int rowEnd = min(Nrows, rowBegin + rowsPerBlock);
    float sum = 0.0f;
    if (c < OC)
        for (int r = rowBegin + threadIdx.y; r < rowEnd; r += 8) sum += dout[(long long)r * OC + c];
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < OC) {
        for (int y = 1; y < 8; y++) sum += partial[y][threadIdx.x];
        atomicAdd(&dbias[c], sum);
    }
}

// The same from dout's bf16 copy (the operand of the products; OC a multiple of 8, rows 16-byte aligned): blocks of
// 32 x 8 threads over 256 columns and a stripe of rows, each thread 8 columns (one 16-byte load per row), summed in
// shared memory, then added once per block. Half the bytes of the float32 kernel.
extern "C" __global__ void matmul_backward_bias_bf16(float* dbias, const __nv_bfloat16* dout, int Nrows, int OC,
                                                     int rowsPerBlock) {
    __shared__ float partial[8][8][32];
    int c0 = (blockIdx.x * 32 + threadIdx.x) * 8;
    int rowBegin = blockIdx.y * rowsPerBlock;
    int rowEnd = min(Nrows, rowBegin + rowsPerBlock);
    float sum[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    if (c0 < OC) {
#pragma unroll 4
        for (int r = rowBegin + threadIdx.y; r < rowEnd; r += 8) {
            uint4 v = *reinterpret_cast<const uint4*>(dout + (long long)r * OC + c0);
            const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float2 f = __bfloat1622float2(h[j]);
                sum[2 * j] += f.x;
                sum[2 * j + 1] += f.y;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < 8; j++) partial[threadIdx.y][j][threadIdx.x] = sum[j];
    __syncthreads();
    if (threadIdx.y == 0 && c0 < OC) {
#pragma unroll
        for (int j = 0; j < 8; j++) {
            float total = sum[j];
            for (int y = 1; y < 8; y++) total += partial[y][j][threadIdx.x];
            atomicAdd(&dbias[c0 + j], total);
        }
    }
}

#ifdef STREAMTRAIN_HOPPER
// The Hopper variant (matmul.sm90.ptx, compute_90a) adds the wgmma products.
#include "matmul_hopper.cuh"
#endif
