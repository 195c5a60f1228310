// Matrix products on Hopper (compute capability 9.0) tensor cores with wgmma: included by matmul.cu only in its
// Hopper variant (-DSTREAMTRAIN_HOPPER, compute_90a PTX: matmul.sm90.ptx), which the loader takes on cc 9.0 alone
// (model-cuda/build-ptx.sh; PtxModules). The compute_80 products of matmul.cu stay the path everywhere else.
//
// One form: out (M, N) (+)= A (M, K) . B (N, K)^T (+ bias (N)), A and B bf16, each either K-contiguous ("K-major":
// A[m * lda + k]) or M/N-contiguous ("MN-major": A[k * lda + m]), leading dimensions lda and ldb multiples of 8 (rows
// start 16-byte aligned; an MN-major operand's M or N a multiple of 8 too), fp32 accumulation, fp32 out (leading
// dimension ldo, even). The three products of a linear layer read straight bf16 copies of their operands:
//   forward  out (N, OC) = inp (N, C) . weight (OC, C)^T     A K-major, B K-major
//   dinp     (N, C)      = dout (N, OC) . weight (OC, C)     A K-major, B N-major (weight read as [k = oc][n = c])
//   dweight  (OC, C)    += dout^T . inp (N rows)             A M-major (dout as [k = row][m = oc]), B N-major
// wgmma reads MN-major tiles itself (its transpose flags), so no operand is ever transposed in memory.
//
// A block of 256 threads (two warpgroups) computes a tile of 128 x COLS: warpgroup g the rows [64 g, 64 g + 64) with
// wgmma m64nBNk16, A and B from shared memory. Every thread copies its share of each 64-deep stage with cp.async
// (16 bytes, zero-filled past the edges), written in the swizzled layout that wgmma's descriptors name: in a tile of
// rows of 64 bf16 (128 bytes), 16-byte chunk c of row r lies at r * 128 + ((c ^ (r % 8)) * 16), tiles 1024-byte
// aligned. K-major: a row is one of M (or N), 64 deep, 8 rows 1024 bytes apart. MN-major: a row is one k of 64
// consecutive M (or N), blocks of 64 of them 64 rows (8192 bytes) apart (PTX ISA, "Shared Memory Matrix Layout": the
// 128-byte swizzle atom of 8 x 64 elements; leading byte offset 8192 between the atoms along MN, stride byte offset
// 1024 between groups of 8 k). STAGES stages in flight; the k-range of a block is [blockIdx.z * kPerSplit, ...) (split-K accumulates with
// atomics).
#pragma once
#include "common.cuh"
#include "tensorcore.cuh"

typedef unsigned long long u64;

#define HBM 128
#define HBK 64
#define HTHREADS 256

// The shared-memory descriptor of a K-major, 128-byte swizzled tile at shared address `address` (1024-byte aligned
// tiles; +32 bytes per 16 of K inside one): leading byte offset 16 (unused by this layout), stride 1024 bytes
// between groups of 8 rows.
__device__ __forceinline__ u64 descriptor(u32 address) {
    return (u64)((address & 0x3FFFF) >> 4) | ((u64)(16 >> 4) << 16) | ((u64)(1024 >> 4) << 32) | (1ull << 62);
}

// The descriptor of an MN-major, 128-byte swizzled tile (see above): leading byte offset 8192 (the next 64 of M or N),
// stride byte offset 1024 (the next 8 of K).
__device__ __forceinline__ u64 descriptorMn(u32 address) {
    return (u64)((address & 0x3FFFF) >> 4) | ((u64)(8192 >> 4) << 16) | ((u64)(1024 >> 4) << 32) | (1ull << 62);
}

// The descriptor of the kk-th 16-deep slice of a stage's tile at `tile` (rows: the first of this warpgroup's).
template <bool MN>
__device__ __forceinline__ u64 sliceDescriptor(u32 tile, int kk) {
    return MN ? descriptorMn(tile + kk * 2048) : descriptor(tile + kk * 32);
}

__device__ __forceinline__ void wgmmaFence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmmaCommit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmmaWait() { asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void fenceProxyAsync() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }

// d (64 x 128 fp32, the warpgroup's fragments) += A (64 x 16) . B (128 x 16)^T, 128-byte swizzled, each K-major or
// (TA, TB) MN-major.
template <int TA, int TB>
__device__ __forceinline__ void wgmma128(float* d, u64 descA, u64 descB) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, %64, %65, p, 1, 1, %66, %67;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(descA), "l"(descB), "n"(TA), "n"(TB));
}


// Starts the copy of rows [row0, row0 + ROWS) (of `rows`), k [k0, k0 + 64) (of kEnd) into the swizzled tile at s:
// K-major (element (row, k) at base[row * ld + k]) or MN-major (at base[k * ld + row]; rows a multiple of 8).
template <int ROWS, bool MN>
__device__ __forceinline__ void loadSwizzled(u32 s, const __nv_bfloat16* base, int ld, int row0, int rows, int k0,
                                             int kEnd) {
#pragma unroll
    for (int i = 0; i < ROWS * 8 / HTHREADS; i++) {
        int c = threadIdx.x + i * HTHREADS;
        if (MN) {
            // chunk c: k row c / (ROWS / 8), 8 consecutive rows from 8 (c % (ROWS / 8)); consecutive threads, consecutive
            // 16 bytes of one k
            int kr = c / (ROWS / 8), chunk = c % (ROWS / 8);
            int k = k0 + kr, row = row0 + chunk * 8;
            bool inside = row < rows && k < kEnd;
            const __nv_bfloat16* src = inside ? base + (long long)k * ld + row : base;
            u32 dst = s + (chunk >> 3) * 8192 + kr * 128 + (((chunk & 7) ^ (kr & 7)) << 4);
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(inside ? 16 : 0));
        } else {
            int r = c >> 3, chunk = c & 7;
            int row = row0 + r, k = k0 + chunk * 8;
            bool inside = row < rows && k < kEnd;
            const __nv_bfloat16* src = inside ? base + (long long)row * ld + k : base;
            u32 dst = s + r * 128 + ((chunk ^ (r & 7)) << 4);
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(inside ? 16 : 0));
        }
    }
}

// Writes a warp's accumulator fragments of a 64 x COLS warpgroup tile (d[4 j + e]: row rowBase (+ 8 for e >= 2),
// column n0 + 8 j + 2 (lane % 4) (+ 1 for odd e); rowBase = the tile's first row + 16 warp + lane / 4): out = d + bias
// (bias may be null) and its bf16 copy into outBf16 unless that is null; or (ACCUMULATE) out += d, with 8-byte vector
// reductions (red.global.add.v2.f32, sm_90; out 8-byte aligned) where K is split over blocks.
template <int COLS, bool ACCUMULATE>
__device__ __forceinline__ void storeFragments(const float* d, float* out, __nv_bfloat16* outBf16, const float* bias,
                                               int rowBase, int n0, int M, int N, int ldo, bool split) {
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int j = 0; j < COLS / 8; j++) {
        int n = n0 + j * 8 + 2 * (lane & 3);
        if (n >= N) continue;  // N is even: n + 1 < N too
        float2 add = !ACCUMULATE && bias != nullptr ? make_float2(bias[n], bias[n + 1]) : make_float2(0.f, 0.f);
#pragma unroll
        for (int half = 0; half < 2; half++) {
            int m = rowBase + half * 8;
            if (m >= M) continue;
            float v0 = d[4 * j + 2 * half], v1 = d[4 * j + 2 * half + 1];
            long long at = (long long)m * ldo + n;
            float* o = out + at;
            if (ACCUMULATE) {
                if (split) asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" :: "l"(o), "f"(v0), "f"(v1) : "memory");
                else { float2 old = *reinterpret_cast<float2*>(o); *reinterpret_cast<float2*>(o) = make_float2(old.x + v0, old.y + v1); }
            } else {
                float w0 = v0 + add.x, w1 = v1 + add.y;
                *reinterpret_cast<float2*>(o) = make_float2(w0, w1);
                if (outBf16 != nullptr) *reinterpret_cast<u32*>(outBf16 + at) = packBf16(w0, w1);
            }
        }
    }
}

// INFLIGHT 0: each stage's wgmma finishes before the next barrier, and STAGES - 1 stages of copies are in flight.
// INFLIGHT 1: one stage's wgmma stays in flight across the barrier (the tensor cores do not wait for it), so the stage
// refilled is the one read two iterations back, and STAGES - 2 stages of copies are in flight.
template <int COLS, int STAGES, int INFLIGHT, bool ACCUMULATE, bool A_MN, bool B_MN>
__device__ __forceinline__ void matmulWgmma(float* out, __nv_bfloat16* outBf16, const __nv_bfloat16* A,
                                            const __nv_bfloat16* Bm, const float* bias, int M, int N, int K, int lda, int ldb, int ldo,
                                            int kPerSplit) {
    constexpr int STAGE_A = HBM * HBK * 2, STAGE_B = COLS * HBK * 2, STAGE = STAGE_A + STAGE_B;
    extern __shared__ unsigned char dynamicShared[];
    u32 shared = ((u32)__cvta_generic_to_shared(dynamicShared) + 1023) & ~1023u;
    int m0 = blockIdx.y * HBM, n0 = blockIdx.x * COLS;
    int kBegin = blockIdx.z * kPerSplit;
    int kEnd = min(K, kBegin + kPerSplit);
    int tiles = kEnd > kBegin ? (kEnd - kBegin + HBK - 1) / HBK : 0;
    int warpgroup = threadIdx.x >> 7;

    float d[COLS / 2];
#pragma unroll
    for (int i = 0; i < COLS / 2; i++) d[i] = 0.0f;

    constexpr int AHEAD = STAGES - 1 - INFLIGHT;  // tiles whose copies are in flight before a tile's wgmma
#pragma unroll
    for (int stage = 0; stage < AHEAD; stage++) {
        if (stage < tiles) {
            u32 s = shared + stage * STAGE;
            loadSwizzled<HBM, A_MN>(s, A, lda, m0, M, kBegin + stage * HBK, kEnd);
            loadSwizzled<COLS, B_MN>(s + STAGE_A, Bm, ldb, n0, N, kBegin + stage * HBK, kEnd);
        }
        commitCopies();
    }
    for (int kt = 0; kt < tiles; kt++) {
        asm volatile("cp.async.wait_group %0;" :: "n"(AHEAD - 1) : "memory");
        fenceProxyAsync();  // the copies (generic proxy) before the tensor cores' reads (async proxy)
        __syncthreads();    // tile kt is in for every thread; every warpgroup is done with tile kt - 1 - INFLIGHT
        int next = kt + AHEAD;  // into the stage of tile kt - 1 - INFLIGHT
        if (next < tiles) {
            u32 s = shared + (next % STAGES) * STAGE;
            loadSwizzled<HBM, A_MN>(s, A, lda, m0, M, kBegin + next * HBK, kEnd);
            loadSwizzled<COLS, B_MN>(s + STAGE_A, Bm, ldb, n0, N, kBegin + next * HBK, kEnd);
        }
        commitCopies();
        u32 s = shared + (kt % STAGES) * STAGE;
        // the warpgroup's 64 rows of A: 64 K-major rows of 128 bytes, or the second MN-major atom block: 8192 either way
        u32 a = s + warpgroup * 8192, b = s + STAGE_A;
        static_assert(COLS == 128, "wgmma128 only");
        wgmmaFence();
#pragma unroll
        for (int kk = 0; kk < HBK / 16; kk++)
            wgmma128<A_MN ? 1 : 0, B_MN ? 1 : 0>(d, sliceDescriptor<A_MN>(a, kk), sliceDescriptor<B_MN>(b, kk));
        wgmmaCommit();
        wgmmaWait<INFLIGHT>();
    }
    wgmmaWait<0>();
    waitCopies();

    int rowBase = m0 + warpgroup * 64 + ((threadIdx.x >> 5) & 3) * 16 + ((threadIdx.x & 31) >> 2);
    storeFragments<COLS, ACCUMULATE>(d, out, outBf16, bias, rowBase, n0, M, N, ldo, gridDim.z > 1);
}

// matmul_wgmma_{store,accumulate}_128x<COLS>s<STAGES>[w1]: out = A . B^T + bias (bias may be null; and its bf16 copy
// into outBf16 unless that is null: the operand of the next product or of attention), or out += A . B^T,
// both operands K-major (the forward product); w1: INFLIGHT 1. The backward products: matmul_wgmma_{store,accumulate}_kn_*
// (A K-major, B N-major: dinp = dout . weight) and matmul_wgmma_accumulate_mn_* (both MN-major: dweight += dout^T . inp).
#define WGMMA_STORE(NAME, COLS, STAGES, INFLIGHT, A_MN, B_MN, BLOCKS)                                                    \
    extern "C" __global__ void __launch_bounds__(HTHREADS, BLOCKS) NAME(                                                \
            float* out, __nv_bfloat16* outBf16, const __nv_bfloat16* A, const __nv_bfloat16* B, const float* bias,   \
            int M, int N, int K, int lda, int ldb, int ldo) {                                                          \
        matmulWgmma<COLS, STAGES, INFLIGHT, false, A_MN, B_MN>(out, outBf16, A, B, bias, M, N, K, lda, ldb, ldo, K);   \
    }
#define WGMMA_ACCUMULATE(NAME, COLS, STAGES, INFLIGHT, A_MN, B_MN, BLOCKS)                                               \
    extern "C" __global__ void __launch_bounds__(HTHREADS, BLOCKS) NAME(                                                \
            float* out, const __nv_bfloat16* A, const __nv_bfloat16* B, int M, int N, int K, int lda, int ldb,       \
            int ldo, int kPerSplit) {                                                                                  \
        matmulWgmma<COLS, STAGES, INFLIGHT, true, A_MN, B_MN>(out, nullptr, A, B, nullptr, M, N, K, lda, ldb, ldo,     \
                                                              kPerSplit);                                              \
    }
#define WGMMA_KERNELS(COLS, STAGES, INFLIGHT, SUFFIX, BLOCKS)                                                             \
    WGMMA_STORE(matmul_wgmma_store_128x##COLS##s##STAGES##SUFFIX, COLS, STAGES, INFLIGHT, false, false, BLOCKS)        \
    WGMMA_ACCUMULATE(matmul_wgmma_accumulate_128x##COLS##s##STAGES##SUFFIX, COLS, STAGES, INFLIGHT, false, false, BLOCKS) \
    WGMMA_STORE(matmul_wgmma_store_kn_128x##COLS##s##STAGES##SUFFIX, COLS, STAGES, INFLIGHT, false, true, BLOCKS)      \
    WGMMA_ACCUMULATE(matmul_wgmma_accumulate_kn_128x##COLS##s##STAGES##SUFFIX, COLS, STAGES, INFLIGHT, false, true, BLOCKS) \
    WGMMA_ACCUMULATE(matmul_wgmma_accumulate_mn_128x##COLS##s##STAGES##SUFFIX, COLS, STAGES, INFLIGHT, true, true, BLOCKS)

// 128 x 256 tiles (wgmma m64n256k16, one block per SM) were slower on every product of our models (NOTES.md).
WGMMA_KERNELS(128, 3, 0, , 2)
WGMMA_KERNELS(128, 3, 1, w1, 2)
WGMMA_KERNELS(128, 4, 1, w1, 1)

// ---- Persistent products fed by the tensor memory accelerator (TMA) ------------------------------------------------
//
// out (M, N) = A (M, K) . B (N, K)^T (+ bias) and its bf16 copy (outBf16, unless null), or (ACCUMULATE) out += A . B^T,
// K split into ranges of kPerSplit (a multiple of 64) whose sums are added with reductions where there are several.
// Each operand K-major or (A_MN, B_MN) M/N-major: forward (K, K), dinp (K, N; split for the output head), dweight
// (M, N). The operands are read by cp.async.bulk.tensor through tensor maps in device memory (HopperMatmul's
// TensorMaps: bf16, 128-byte swizzle, zero fill past the edges; boxes of 64 k x 128 rows of a K-major operand, 64 m
// or n x 64 k of an MN-major one, which land in exactly the swizzled layouts above). One block per SM loops over the
// work units u = blockIdx.x, + gridDim.x, ...: unit u is tile t = u % tiles (rows 128 (t % mTiles), columns 128
// (t / mTiles), so the blocks at work at once share B's columns and A) of K range u / tiles.
// Warpgroup 0 is the producer: one thread waits until a stage is free (its "empty" mbarrier), announces the stage's
// bytes on its "full" mbarrier and starts the copies, STAGES stages ahead, across units: the next unit's operands
// arrive while the consumers store the last one. Warpgroups 1 and 2 consume alternate units ("ping-pong"), each the
// whole 128 x 128 tile (two wgmma m64n128k16 per 16 of K), so that one's epilogue overlaps the other's products.
// Named barriers 1 and 2 make their main loops take turns: a warpgroup starts waiting for its unit's stages only after
// the other has waited for every stage of the unit before (so no stage's mbarrier is ever more than one phase ahead
// of its waiter). A consumer warp arrives on a stage's empty mbarrier once the wgmma that read it are done
// (wgmma.wait_group 1: one stage's products stay in flight). Tried and slower (model-cuda/NOTES.md): 128 x 192
// ping-pong tiles, cooperative consumers (both warpgroups on each tile, 64 rows each) with 128 x 192 and 128 x 256.
#define PTHREADS 384

__device__ __forceinline__ void mbarrierInit(u32 bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarrierExpectBytes(u32 bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarrierArrive(u32 bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory");
}
// Waits until the phase of parity `parity` of the mbarrier at `bar` has completed.
__device__ __forceinline__ void mbarrierWait(u32 bar, u32 parity) {
    asm volatile(
        "{\n.reg .pred done;\n"
        "WAIT:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra WAIT;\n"
        "}\n" :: "r"(bar), "r"(parity) : "memory");
}
// Copies the box at element coordinates (x: innermost, y) of the tensor map at `map` (device memory) into shared
// memory at dst, completing its bytes on the mbarrier at bar.
__device__ __forceinline__ void tmaLoad(u32 dst, const void* map, u32 bar, int x, int y) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];"
        :: "r"(dst), "l"(map), "r"(bar), "r"(x), "r"(y) : "memory");
}
// Starts the copy of 128 rows (m or n from row0) x 64 k (from k0) of an operand into the stage tile at dst: one box of
// a K-major operand (map dims {K, rows}), two of an MN-major one (map dims {rows, K}; the second 8192 bytes on).
template <bool MN>
__device__ __forceinline__ void tmaLoadTile(u32 dst, const void* map, u32 bar, int row0, int k0) {
    if (MN) {
        tmaLoad(dst, map, bar, row0, k0);
        tmaLoad(dst + 8192, map, bar, row0 + 64, k0);
    } else {
        tmaLoad(dst, map, bar, k0, row0);
    }
}

// The k-tiles (64 deep) of work unit u: its K range [split * kPerSplit, ...) cut at K.
__device__ __forceinline__ int unitKTiles(int u, int tiles, int K, int kPerSplit) {
    int kBegin = (u / tiles) * kPerSplit;
    return (min(K, kBegin + kPerSplit) - kBegin + HBK - 1) / HBK;
}

template <int STAGES, bool ACCUMULATE, bool A_MN, bool B_MN>
__device__ __forceinline__ void matmulTma(float* out, __nv_bfloat16* outBf16, const void* mapA, const void* mapB,
                                          const float* bias, int M, int N, int K, int ldo, int kPerSplit) {
    constexpr int STAGE_A = HBM * HBK * 2, STAGE = 2 * STAGE_A;
    extern __shared__ unsigned char dynamicShared[];
    u32 shared = ((u32)__cvta_generic_to_shared(dynamicShared) + 1023) & ~1023u;
    u32 full = shared + STAGES * STAGE, empty = full + STAGES * 8;
    int mTiles = (M + HBM - 1) / HBM, tiles = mTiles * ((N + HBM - 1) / HBM);
    int splits = (K + kPerSplit - 1) / kPerSplit, units = tiles * splits;
    int warpgroup = threadIdx.x >> 7;
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbarrierInit(full + 8 * s, 1);
            mbarrierInit(empty + 8 * s, 4);  // the 4 warps of the consumer of the stage
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    if (warpgroup == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 40;");
        if (threadIdx.x == 0) {
            asm volatile("prefetch.tensormap [%0];" :: "l"(mapA) : "memory");
            asm volatile("prefetch.tensormap [%0];" :: "l"(mapB) : "memory");
            int n = 0;  // stages filled so far
            for (int u = blockIdx.x; u < units; u += gridDim.x) {
                int t = u % tiles, kBegin = (u / tiles) * kPerSplit, kTiles = unitKTiles(u, tiles, K, kPerSplit);
                int m0 = (t % mTiles) * HBM, n0 = (t / mTiles) * HBM;
                for (int kt = 0; kt < kTiles; kt++, n++) {
                    int s = n % STAGES;
                    mbarrierWait(empty + 8 * s, ((n / STAGES) & 1) ^ 1);  // the first round passes at once
                    u32 st = shared + s * STAGE, bar = full + 8 * s;
                    mbarrierExpectBytes(bar, STAGE);
                    tmaLoadTile<A_MN>(st, mapA, bar, m0, kBegin + kt * HBK);
                    tmaLoadTile<B_MN>(st + STAGE_A, mapB, bar, n0, kBegin + kt * HBK);
                }
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 232;");
    int consumer = warpgroup - 1;
    int lane = threadIdx.x & 31;
    int count = (units - (int)blockIdx.x + (int)gridDim.x - 1) / (int)gridDim.x;  // this block's units
    float d[2][HBM / 2];
    int n = 0;  // the stage counter of the unit's first k
    for (int j = 0; j < count; j++) {
        int u = blockIdx.x + j * gridDim.x;
        int kTiles = unitKTiles(u, tiles, K, kPerSplit);
        if ((j & 1) != consumer) {  // the other warpgroup's unit
            n += kTiles;
            continue;
        }
        int t = u % tiles;
        int m0 = (t % mTiles) * HBM, n0 = (t / mTiles) * HBM;
        if (j > 0) {  // wait for the other warpgroup's turn to end
            if (consumer == 0) asm volatile("bar.sync 2, 256;" ::: "memory");
            else asm volatile("bar.sync 1, 256;" ::: "memory");
        }
#pragma unroll
        for (int h = 0; h < 2; h++)
#pragma unroll
            for (int i = 0; i < HBM / 2; i++) d[h][i] = 0.0f;
        for (int kt = 0; kt < kTiles; kt++, n++) {
            int s = n % STAGES;
            mbarrierWait(full + 8 * s, (n / STAGES) & 1);
            u32 st = shared + s * STAGE;
            wgmmaFence();
#pragma unroll
            for (int kk = 0; kk < HBK / 16; kk++)
#pragma unroll
                for (int h = 0; h < 2; h++)  // rows [64 h, 64 h + 64): the next 64 K-major rows or MN-major atom
                    wgmma128<A_MN ? 1 : 0, B_MN ? 1 : 0>(d[h], sliceDescriptor<A_MN>(st + h * 8192, kk),
                                                         sliceDescriptor<B_MN>(st + STAGE_A, kk));
            wgmmaCommit();
            if (kt == kTiles - 1 && j + 1 < count) {  // the other warpgroup's turn
                if (consumer == 0) asm volatile("bar.arrive 1, 256;" ::: "memory");
                else asm volatile("bar.arrive 2, 256;" ::: "memory");
            }
            wgmmaWait<1>();
            if (kt > 0 && lane == 0) mbarrierArrive(empty + 8 * ((n - 1) % STAGES));
        }
        wgmmaWait<0>();
        if (lane == 0) mbarrierArrive(empty + 8 * ((n - 1) % STAGES));
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int rowBase = m0 + h * 64 + ((threadIdx.x >> 5) & 3) * 16 + (lane >> 2);
            storeFragments<HBM, ACCUMULATE>(d[h], out, outBf16, bias, rowBase, n0, M, N, ldo, splits > 1);
        }
    }
}

// matmul_tma_store_p128x128s<STAGES> (forward: both operands K-major) and matmul_tma_store_kn_... (dinp unsplit: B
// N-major): out = A . B^T (+ bias), K not split (K >= 1); matmul_tma_accumulate_kn_... (the split dinp) and
// matmul_tma_accumulate_mn_... (dweight: both MN-major): out += A . B^T, K split by kPerSplit (a multiple of 64).
// A GELU (or GELU backward) in the store epilogue was slower than the separate element-wise kernels (NOTES.md).
#define TMA_STORE(NAME, STAGES, B_MN)                                                                                  \
    extern "C" __global__ void __launch_bounds__(PTHREADS, 1) NAME(                                                   \
            float* out, __nv_bfloat16* outBf16, const void* mapA, const void* mapB, const float* bias, int M, int N,  \
            int K, int ldo) {                                                                                          \
        matmulTma<STAGES, false, false, B_MN>(out, outBf16, mapA, mapB, bias, M, N, K, ldo, K);                       \
    }
#define TMA_ACCUMULATE(NAME, STAGES, A_MN)                                                                             \
    extern "C" __global__ void __launch_bounds__(PTHREADS, 1) NAME(                                                   \
            float* out, const void* mapA, const void* mapB, int M, int N, int K, int ldo, int kPerSplit) {           \
        matmulTma<STAGES, true, A_MN, true>(out, nullptr, mapA, mapB, nullptr, M, N, K, ldo, kPerSplit);              \
    }
#define TMA_KERNELS(STAGES)                                                                                             \
    TMA_STORE(matmul_tma_store_p128x128s##STAGES, STAGES, false)                                                       \
    TMA_STORE(matmul_tma_store_kn_p128x128s##STAGES, STAGES, true)                                                     \
    TMA_ACCUMULATE(matmul_tma_accumulate_kn_p128x128s##STAGES, STAGES, false)                                          \
    TMA_ACCUMULATE(matmul_tma_accumulate_mn_p128x128s##STAGES, STAGES, true)

TMA_KERNELS(6)
