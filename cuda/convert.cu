// Half precision in and out (IEEE binary16 and bfloat16, as 16-bit patterns): inputs widened to float exactly,
// gradients narrowed from float by round-to-nearest-even, saturated at +-MAX (as the CPU's half_precision.rs: the
// `half` crate's conversion of a value clamped to the format's range). Bit operations only, no fp16 headers.
// Launch (every kernel): grid RLL_CHECK_BLOCKS, block RLL_THREADS, a grid-stride loop over `count` values.
#include "rll_common.cuh"

__device__ inline float float_of_bits(unsigned u) {
  union {
    unsigned u;
    float f;
  } v;
  v.u = u;
  return v.f;
}

__device__ inline unsigned bits_of_float(float f) {
  union {
    float f;
    unsigned u;
  } v;
  v.f = f;
  return v.u;
}

// binary16 -> float, exact (subnormals as mant 2^-24; infinities and NaNs kept).
__device__ inline float f16_to_f32(unsigned short h) {
  const unsigned sign = (unsigned)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  if (exp == 0) {
    const float v = (float)mant * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return float_of_bits(sign | 0x7f800000u | (mant << 13));
  return float_of_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

// float -> binary16, nearest even, saturated: |v| >= 65520 (where nearest-even would give infinity) is +-65504.
__device__ inline unsigned short f32_to_f16(float f) {
  const unsigned x = bits_of_float(f), sign = (x >> 16) & 0x8000, a = x & 0x7fffffff;
  if (a > 0x7f800000u) return (unsigned short)(sign | 0x7e00);  // NaN (a poisoned gradient)
  if (a >= 0x477ff000u) return (unsigned short)(sign | 0x7bff);  // 65520 and above, infinity included
  if (a >= 0x38800000u) {                                         // normal: 2^-14 and above
    const unsigned r = a + 0xfff + ((a >> 13) & 1);
    return (unsigned short)(sign | ((r - 0x38000000u) >> 13));
  }
  // Subnormal or zero: |v| 2^24 rounded to an integer, nearest even (1024 is the smallest normal, as it should be).
  const float s = float_of_bits(a) * 16777216.0f;
  float r = floorf(s);
  const float rest = s - r;
  if (rest > 0.5f || (rest == 0.5f && fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
  return (unsigned short)(sign | (unsigned)r);
}

// bfloat16 -> float: the high half of the float's bits.
__device__ inline float bf16_to_f32(unsigned short h) { return float_of_bits((unsigned)h << 16); }

// float -> bfloat16, nearest even, saturated at +-MAX (0x7f7f) where nearest-even would give infinity.
__device__ inline unsigned short f32_to_bf16(float f) {
  const unsigned x = bits_of_float(f), sign = (x >> 16) & 0x8000, a = x & 0x7fffffff;
  if (a > 0x7f800000u) return (unsigned short)(sign | 0x7fc0);
  if (a >= 0x7f7f8000u) return (unsigned short)(sign | 0x7f7f);
  return (unsigned short)(sign | ((a + 0x7fff + ((a >> 16) & 1)) >> 16));
}

// The grid-stride loop of every kernel below.
#define RLL_EACH(k, count) \
  for (long k = blockIdx.x * (long)RLL_THREADS + threadIdx.x; k < count; k += (long)RLL_CHECK_BLOCKS * RLL_THREADS)

extern "C" __global__ void rll_f16_to_f32(const unsigned short* src, long count, float* dst) {
  RLL_EACH(k, count) dst[k] = f16_to_f32(src[k]);
}
extern "C" __global__ void rll_bf16_to_f32(const unsigned short* src, long count, float* dst) {
  RLL_EACH(k, count) dst[k] = bf16_to_f32(src[k]);
}
extern "C" __global__ void rll_f32_to_f16(const float* src, long count, unsigned short* dst) {
  RLL_EACH(k, count) dst[k] = f32_to_f16(src[k]);
}
extern "C" __global__ void rll_f32_to_bf16(const float* src, long count, unsigned short* dst) {
  RLL_EACH(k, count) dst[k] = f32_to_bf16(src[k]);
}
