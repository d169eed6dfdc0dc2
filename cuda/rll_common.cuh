// Shared helpers of the Ranked List Loss kernels (included by every family; compiled by NVRTC, no CUDA headers).
//
// Determinism: every reduction is a fixed-shape tree over a fixed block size (RLL_THREADS), and no kernel uses
// atomics, so results are bit-identical run to run.
#pragma once

// RLL_THREADS, RLL_COL_CHUNKS, RLL_CHECK_BLOCKS, RLL_FLAG_TILE_ROWS/COLS, RLL_CLOSE_PAIR_RATIO and RLL_LN_EPS_SUM
// come from src/kernel_consts.rs, passed by cuda/build_ptx.py as -D options.
#ifndef RLL_THREADS
#error "compile with cuda/build_ptx.py, which defines the constants of src/kernel_consts.rs"
#endif

template <typename T> struct Num;
template <> struct Num<float> {
  __device__ static float exp(float x) { return expf(x); }
  __device__ static float log(float x) { return logf(x); }
  __device__ static float sqrt(float x) { return sqrtf(x); }
  __device__ static float max_value() { return 3.402823466e38f; }
  __device__ static float fma(float a, float b, float c) { return fmaf(a, b, c); }
  __device__ static float nan() { return nanf(""); }
};
template <> struct Num<double> {
  __device__ static double exp(double x) { return ::exp(x); }
  __device__ static double log(double x) { return ::log(x); }
  __device__ static double sqrt(double x) { return ::sqrt(x); }
  __device__ static double max_value() { return 1.7976931348623157e308; }
  __device__ static double fma(double a, double b, double c) { return ::fma(a, b, c); }
  __device__ static double nan() { return ::nan(""); }
};

template <typename T> __device__ inline T rll_min(T a, T b) { return a < b ? a : b; }
template <typename T> __device__ inline T rll_max(T a, T b) { return a > b ? a : b; }

// ±infinity to ±MAX and NaN to 0, as the CPU's real::saturate.
template <typename T> __device__ inline T saturate(T v) {
  const T m = Num<T>::max_value();
  return v != v ? (T)0 : (v > m ? m : (v < -m ? -m : v));
}

// Sum over the block in a fixed tree; every thread gets the result. `buf` holds RLL_THREADS values.
template <typename T> __device__ T block_sum(T v, T* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = RLL_THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  T r = buf[0];
  __syncthreads();
  return r;
}

template <typename T> __device__ T block_max(T v, T* buf) {
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = RLL_THREADS / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] = rll_max(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  T r = buf[0];
  __syncthreads();
  return r;
}

// x * 2^k in double, in steps that stay in range (k may exceed the exponent range of one factor).
__device__ inline double mul_pow2(double v, int k) {
  while (k != 0) {
    int step = k > 600 ? 600 : (k < -600 ? -600 : k);
    v = ldexp(v, step);
    k -= step;
  }
  return v;
}

// x * 2^k, saturated: the CPU's real::ldexp (exact whenever the result is a normal number).
template <typename T> __device__ inline T rll_ldexp(T x, int k) { return saturate((T)mul_pow2((double)x, k)); }

// The batch's scaling exponent e (input units = scaled units * 2^e) from the distance stage's info = {e1, e2}.
__device__ inline int batch_exponent(const int* info) { return info[0] + info[1]; }

// A boundary (or any length) in scaled units, b 2^-e, as src/scaled.rs's `Input::scaled`.
template <typename T> __device__ inline T scaled_length(T b, int e) { return rll_ldexp(b, -e); }

// A temperature in scaled units, t 2^e clamped to +-cap, as src/scaled.rs's `Input::scaled`.
template <typename T> __device__ inline T scaled_temperature(T t, int e, T cap) {
  return rll_min(rll_max(rll_ldexp(t, e), -cap), cap);
}

// The e with a = f * 2^e, f in [0.5, 1); 0 for a = 0 (as the CPU's pow2_exponent).
__device__ inline int pow2_exponent(double a) {
  if (!(a > 0.0) || a > 1.7976931348623157e308) return 0;
  int e;
  frexp(a, &e);
  return e;
}

// x_i[k] - x_j[k] in scaled units, from the input x (n x d) and the exponents info = {e1, e2}, in double:
// (x_i 2^-e1 - x_j 2^-e1) 2^-e2, exact up to one rounding whatever the centring did (the CPU's
// distance::exact_diff).
template <typename T>
__device__ inline double exact_diff(const T* x, const int* info, long i, long j, long d, long k) {
  return mul_pow2(mul_pow2((double)x[i * d + k], -info[0]) - mul_pow2((double)x[j * d + k], -info[0]), -info[1]);
}
