// Runs a kernel's grid on the launching host thread: blocks one at a time in CUDA's order (x fastest), the
// block's threads as fibers, switched at each __syncthreads() until every live thread of the block has arrived.
#pragma once

#include <string>

#include "cuda_builtins.h"
#include "kernel_entry.h"

namespace rll_emu {

// "" when every block ran to its end; otherwise what went wrong (a __syncthreads() that some threads of a block
// never reached). `barriers`: whether the kernel's PTX has any (without, the threads run as plain calls).
std::string run_grid(const Kernel& kernel, void** params, dim3 grid, dim3 block, bool barriers);

// The kernel, block and thread running on this host thread, for fault reports ("" when none).
std::string running_where();

// Whether `addr` is in the guard page of one of this host thread's fiber stacks.
bool in_stack_guard(const void* addr);

}  // namespace rll_emu
