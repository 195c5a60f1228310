// Elementwise kernels: tanh-GELU forward/backward, residual add forward/backward, dropout (alone, and fused into the
// residual add of a dropped-out branch). Each thread takes 4
// consecutive elements: one 16-byte access per tensor where every tensor is 16-byte aligned, else 4 scalar ones.
// The GELU kernels also write a bf16 copy of their output where its pointer is not null (the operand of the matrix
// product that reads it next).
#include "common.cuh"
#include "tensorcore.cuh"

#define GELU_SCALE 0.7978845608028654f  // sqrt(2 / pi)

__device__ __forceinline__ bool aligned16(const void* p) { return (reinterpret_cast<unsigned long long>(p) & 15) == 0; }

__device__ __forceinline__ float geluValue(float x) {
    float cube = 0.044715f * x * x * x;
    return 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}

__device__ __forceinline__ float geluGradient(float x) {
    float cube = 0.044715f * x * x * x;
    float tanhArg = GELU_SCALE * (x + cube);
    float tanhOut = tanhf(tanhArg);
    float coshOut = coshf(tanhArg);
    float sech2 = 1.0f / (coshOut * coshOut);
    return 0.5f * (1.0f + tanhOut) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
}

// Applies op to the 4 elements at i (fewer at the end), as float4 when `vector`.
#define FOR_FOUR(i, N, vector, VECTOR_BODY, SCALAR_BODY)                         \
    if ((vector) && (i) + 4 <= (N)) { VECTOR_BODY }                              \
    else { for (long long j = (i); j < min((N), (i) + 4); j++) { SCALAR_BODY } }

// The 4 values at i as bf16 into outBf16 (8-byte aligned when out is 16-byte aligned), unless it is null.
__device__ __forceinline__ void storeBf16x4(__nv_bfloat16* outBf16, long long i, float4 v) {
    if (outBf16 != nullptr) *reinterpret_cast<uint2*>(outBf16 + i) = make_uint2(packBf16(v.x, v.y), packBf16(v.z, v.w));
}

extern "C" __global__ void gelu_forward(float* out, __nv_bfloat16* outBf16, const float* inp, long long N) {
    long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= N) return;
    bool vector = aligned16(out) && aligned16(inp) && ((reinterpret_cast<unsigned long long>(outBf16) & 7) == 0);
    FOR_FOUR(i, N, vector,
        float4 x = *reinterpret_cast<const float4*>(inp + i);
        float4 y = make_float4(geluValue(x.x), geluValue(x.y), geluValue(x.z), geluValue(x.w));
        *reinterpret_cast<float4*>(out + i) = y;
        storeBf16x4(outBf16, i, y);,
        float y = geluValue(inp[j]); out[j] = y; if (outBf16 != nullptr) outBf16[j] = __float2bfloat16_rn(y);)
}

// dinp (N) = dout * gelu'(inp), written; dinp may be dout (each element is read before it is written)
extern "C" __global__ void gelu_backward(float* dinp, __nv_bfloat16* dinpBf16, const float* dout, const float* inp,
                                         long long N) {
    long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= N) return;
    bool vector = aligned16(dinp) && aligned16(dout) && aligned16(inp)
                  && ((reinterpret_cast<unsigned long long>(dinpBf16) & 7) == 0);
    FOR_FOUR(i, N, vector,
        float4 x = *reinterpret_cast<const float4*>(inp + i);
        float4 d = *reinterpret_cast<const float4*>(dout + i);
        float4 g = make_float4(geluGradient(x.x) * d.x, geluGradient(x.y) * d.y, geluGradient(x.z) * d.z,
                               geluGradient(x.w) * d.w);
        *reinterpret_cast<float4*>(dinp + i) = g;
        storeBf16x4(dinpBf16, i, g);,
        float g = geluGradient(inp[j]) * dout[j]; dinp[j] = g; if (dinpBf16 != nullptr) dinpBf16[j] = __float2bfloat16_rn(g);)
}

extern "C" __global__ void residual_forward(float* out, const float* inp1, const float* inp2, long long N) {
    long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= N) return;
    bool vector = aligned16(out) && aligned16(inp1) && aligned16(inp2);
    FOR_FOUR(i, N, vector,
        float4 a = *reinterpret_cast<const float4*>(inp1 + i);
        float4 b = *reinterpret_cast<const float4*>(inp2 + i);
        *reinterpret_cast<float4*>(out + i) = make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);,
        out[j] = inp1[j] + inp2[j];)
}

// out (N) = inp * mask / (1 - p), the mask of dropoutOf(key, p) (common.cuh); out may be inp.
extern "C" __global__ void dropout_forward(float* out, const float* inp, unsigned long long key, float p, long long N) {
    long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= N) return;
    Dropout d = dropoutOf(key, p);
    bool vector = aligned16(out) && aligned16(inp);
    FOR_FOUR(i, N, vector,
        float4 x = *reinterpret_cast<const float4*>(inp + i);
        *reinterpret_cast<float4*>(out + i) = make_float4(dropped(d, i, x.x), dropped(d, i + 1, x.y),
                                                          dropped(d, i + 2, x.z), dropped(d, i + 3, x.w));,
        out[j] = dropped(d, j, inp[j]);)
}

// out (N) = inp1 + dropout(inp2): the residual sum of a dropped-out branch in one pass.
extern "C" __global__ void residual_dropout_forward(float* out, const float* inp1, const float* inp2,
                                                   unsigned long long key, float p, long long N) {
    long long i = 4 * ((long long)blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= N) return;
    Dropout d = dropoutOf(key, p);
    bool vector = aligned16(out) && aligned16(inp1) && aligned16(inp2);
    FOR_FOUR(i, N, vector,
        float4 a = *reinterpret_cast<const float4*>(inp1 + i);
        float4 b = *reinterpret_cast<const float4*>(inp2 + i);
        *reinterpret_cast<float4*>(out + i) = make_float4(a.x + dropped(d, i, b.x), a.y + dropped(d, i + 1, b.y),
                                                          a.z + dropped(d, i + 2, b.z), a.w + dropped(d, i + 3, b.w));,
        out[j] = inp1[j] + dropped(d, j, inp2[j]);)
}
