// Tensor-core helpers shared by the matmul and attention kernels: bf16 packing, ldmatrix, mma.sync m16n8k16
// (bf16 operands, fp32 accumulators) and 16-byte asynchronous copies into shared memory.
#pragma once
#include <cuda_bf16.h>

typedef unsigned int u32;

// Two floats as one bf16x2 register, rounded to nearest; lo in the low half.
__device__ __forceinline__ u32 packBf16(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<u32*>(&h);
}

// Four 8x8 bf16 matrices from shared memory; each lane gives the address of one 16-byte row.
__device__ __forceinline__ void ldmatrix4(u32* r, const __nv_bfloat16* p) {
    u32 address = (u32)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// The same, each matrix transposed on the way.
__device__ __forceinline__ void ldmatrix4Trans(u32* r, const __nv_bfloat16* p) {
    u32 address = (u32)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(address));
}

// c (16 x 8, fp32) += a (16 x 16, row) . b (16 x 8, col), bf16 operands.
__device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Starts a 16-byte copy from global to shared memory; zero-fills the destination when !inside.
__device__ __forceinline__ void copyAsync16(__nv_bfloat16* dst, const __nv_bfloat16* src, bool inside) {
    u32 address = (u32)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(address), "l"(src), "r"(inside ? 16 : 0));
}

__device__ __forceinline__ void commitCopies() { asm volatile("cp.async.commit_group;"); }
__device__ __forceinline__ void waitCopies() { asm volatile("cp.async.wait_group 0;"); }
__device__ __forceinline__ void waitCopiesButLast() { asm volatile("cp.async.wait_group 1;"); }

// Fragments of a bf16 tile in shared memory stored K-contiguous ([row][DEPTH + 8]) or not ([DEPTH][ROWS + 8]);
// the 16-byte padding keeps ldmatrix free of bank conflicts.
template <bool KC, int ROWS, int DEPTH>
struct Fragments {
    // The A fragment (16 rows x 16 k) at rows [row0, row0 + 16), k [k0, k0 + 16), in mma.sync's register order.
    static __device__ __forceinline__ void a(u32* r, const __nv_bfloat16* s, int row0, int k0) {
        int lane = threadIdx.x & 31;
        if (KC) ldmatrix4(r, s + (row0 + (lane & 15)) * (DEPTH + 8) + k0 + (lane >> 4) * 8);
        else ldmatrix4Trans(r, s + (k0 + (lane & 7) + (lane >> 4) * 8) * (ROWS + 8) + row0 + ((lane >> 3) & 1) * 8);
    }

    // The B fragments of two n-tiles (rows [row0, row0 + 8) and [row0 + 8, row0 + 16)), k [k0, k0 + 16):
    // r[0], r[1] of the first, r[2], r[3] of the second.
    static __device__ __forceinline__ void b(u32* r, const __nv_bfloat16* s, int row0, int k0) {
        int lane = threadIdx.x & 31;
        if (KC) ldmatrix4(r, s + (row0 + (lane & 7) + (lane >> 4) * 8) * (DEPTH + 8) + k0 + ((lane >> 3) & 1) * 8);
        else ldmatrix4Trans(r, s + (k0 + (lane & 7) + ((lane >> 3) & 1) * 8) * (ROWS + 8) + row0 + (lane >> 4) * 8);
    }
};
