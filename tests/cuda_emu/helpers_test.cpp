// The device helpers of cuda/rll_common.cuh compiled for the CPU against their CPU twins' contracts (src/real.rs:
// saturate, ldexp, pow2_exponent): the values the kernels rely on, at the edges.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <limits>

#include "cuda_builtins.h"
#include "rll_common.cuh"

namespace rll_emu {
RLL_EMU_TLS uint3 thread_idx;
RLL_EMU_TLS uint3 block_idx;
RLL_EMU_TLS dim3 block_dim;
RLL_EMU_TLS dim3 grid_dim;
void sync_threads() {}
}  // namespace rll_emu

static int passed = 0, failed = 0;
static void check(bool ok, const char* what) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::fprintf(stderr, "FAILED: %s\n", what);
  }
}

int main() {
  const float inf_f = std::numeric_limits<float>::infinity(), nan_f = std::nanf("");
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  check(saturate(nan_f) == 0.0f && !std::signbit(saturate(nan_f)), "saturate(NaN) = 0 (f32)");
  check(saturate(nan) == 0.0, "saturate(NaN) = 0 (f64)");
  check(saturate(inf_f) == FLT_MAX && saturate(-inf_f) == -FLT_MAX, "saturate(±inf) = ±MAX (f32)");
  check(saturate(inf) == DBL_MAX && saturate(-inf) == -DBL_MAX, "saturate(±inf) = ±MAX (f64)");
  check(saturate(1.5f) == 1.5f && saturate(-0.0) == 0.0, "saturate of a finite value is the value");
  check(rll_ldexp(1.0f, 200) == FLT_MAX, "ldexp past float's range saturates");
  check(rll_ldexp(3.0, -1100) == std::ldexp(3.0, -1100), "ldexp into the subnormals in steps");
  check(mul_pow2(1.0, 2000) == inf && mul_pow2(0x1p1000, -1500) == 0x1p-500, "mul_pow2 across one factor's range");
  check(pow2_exponent(0.0) == 0 && pow2_exponent(nan) == 0 && pow2_exponent(inf) == 0, "pow2_exponent's zero cases");
  check(pow2_exponent(1.0) == 1 && pow2_exponent(0.75) == 0 && pow2_exponent(0x1p-1060) == -1059,
        "pow2_exponent: a = f 2^e with f in [0.5, 1)");
  std::printf("helpers_test: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
