// CUDA's built-ins for compiling the kernels of cuda/*.cu as C++ on the CPU (the kernel emulation of
// tests/cuda_emu; docs/gpu.md). Blocks run one at a time on the launching host thread, the block's CUDA threads as
// fibers of that host thread, so `__shared__` is a thread_local static (one copy per block being run) and
// `__syncthreads()` switches to the next fiber until every thread of the block has arrived.
#pragma once

#include <cmath>

using std::isfinite;

struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
};

#define RLL_EMU_TLS thread_local

namespace rll_emu {
extern RLL_EMU_TLS uint3 thread_idx;
extern RLL_EMU_TLS uint3 block_idx;
extern RLL_EMU_TLS dim3 block_dim;
extern RLL_EMU_TLS dim3 grid_dim;
void sync_threads();
}  // namespace rll_emu

#define threadIdx (rll_emu::thread_idx)
#define blockIdx (rll_emu::block_idx)
#define blockDim (rll_emu::block_dim)
#define gridDim (rll_emu::grid_dim)
#define __global__
#define __device__
#define __shared__ static thread_local
#define __syncthreads() rll_emu::sync_threads()
