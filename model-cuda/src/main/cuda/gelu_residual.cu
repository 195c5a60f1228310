// Elementwise kernels: tanh-GELU forward/backward, residual add forward/backward.
#include "common.cuh"

#define GELU_SCALE 0.7978845608028654f  // sqrt(2 / pi)

extern "C" __global__ void gelu_forward(float* out, const float* inp, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    float cube = 0.044715f * x * x * x;
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + cube)));
}

// dinp (N) += dout * gelu'(inp)
extern "C" __global__ void gelu_backward(float* dinp, const float* dout, const float* inp, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float x = inp[i];
    float cube = 0.044715f * x * x * x;
    float tanhArg = GELU_SCALE * (x + cube);
    float tanhOut = tanhf(tanhArg);
    float coshOut = coshf(tanhArg);
    float sech2 = 1.0f / (coshOut * coshOut);
    float grad = 0.5f * (1.0f + tanhOut) + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
    dinp[i] += grad * dout[i];
}

extern "C" __global__ void residual_forward(float* out, const float* inp1, const float* inp2, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    out[i] = inp1[i] + inp2[i];
}

// dinp1 (N) += dout, dinp2 (N) += dout. dout is read first, so either may alias it.
extern "C" __global__ void residual_backward(float* dinp1, float* dinp2, const float* dout, long long N) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) return;
    float d = dout[i];
    dinp1[i] += d;
    dinp2[i] += d;
}
