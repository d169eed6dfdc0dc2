// L2 normalisation per sample (the Normalization layer): y = x / ||x||, dx = (dy - (y . dy) y) / ||x||; a zero
// row gives zeros. Launch: grid n, block RLL_THREADS, one block per row; fixed-tree reductions.
#include "rll_common.cuh"

template <typename T> __device__ void l2_forward(const T* x, long n, long d, T* y, T* norms) {
  __shared__ T buf[RLL_THREADS];
  const T* xr = x + blockIdx.x * d;
  T m = 0;
  for (long k = threadIdx.x; k < d; k += RLL_THREADS) m = rll_max(m, xr[k] < 0 ? -xr[k] : xr[k]);
  m = block_max(m, buf);
  T s = 0;
  if (m > 0)
    for (long k = threadIdx.x; k < d; k += RLL_THREADS) s += (xr[k] / m) * (xr[k] / m);
  s = block_sum(s, buf);
  const T norm = m * Num<T>::sqrt(s);
  for (long k = threadIdx.x; k < d; k += RLL_THREADS) y[blockIdx.x * d + k] = norm > 0 ? xr[k] / norm : (T)0;
  if (threadIdx.x == 0) norms[blockIdx.x] = norm;
}

template <typename T>
__device__ void l2_backward(const T* y, const T* dy, const T* norms, long n, long d, T* dx) {
  __shared__ T buf[RLL_THREADS];
  const long base = blockIdx.x * d;
  const T norm = norms[blockIdx.x];
  T dot = 0;
  for (long k = threadIdx.x; k < d; k += RLL_THREADS) dot += y[base + k] * dy[base + k];
  dot = block_sum(dot, buf);
  for (long k = threadIdx.x; k < d; k += RLL_THREADS)
    dx[base + k] = norm > 0 ? saturate((dy[base + k] - dot * y[base + k]) / norm) : (T)0;
}

#define RLL_INSTANTIATE(T, S)                                                                                   \
  extern "C" __global__ void rll_l2_forward_##S(const T* x, long n, long d, T* y, T* norms) {                  \
    l2_forward<T>(x, n, d, y, norms);                                                                           \
  }                                                                                                             \
  extern "C" __global__ void rll_l2_backward_##S(const T* y, const T* dy, const T* norms, long n, long d, T* dx) { \
    l2_backward<T>(y, dy, norms, n, d, dx);                                                                     \
  }

RLL_INSTANTIATE(float, f32)
RLL_INSTANTIATE(double, f64)
