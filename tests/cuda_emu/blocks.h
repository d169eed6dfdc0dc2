// Runs a kernel's grid on the launching host thread: blocks one at a time, the block's threads as fibers,
// switched at each __syncthreads() until every live thread of the block has arrived. The order of the blocks, and
// of the threads between two barriers, is the schedule's: a device guarantees neither, so a kernel whose results
// depend on it is wrong (driver.cpp runs each launch in several orders and compares the bytes).
#pragma once

#include <cstdint>
#include <string>

#include "cuda_builtins.h"
#include "kernel_entry.h"

namespace rll_emu {

enum class Order { forward, reverse, shuffle };

const char* order_name(Order order);

struct Schedule {
  Order order = Order::forward;  // of the blocks (x fastest when forward) and of the threads in each interval
  std::uint64_t seed = 1;        // the shuffle's: a fresh permutation for each block and each interval
  bool races = false;            // check shared memory for races (races.h)
};

// "" when every block ran to its end; otherwise what went wrong (a __syncthreads() that some threads of a block
// never reached, a shared-memory race). `barriers`: whether the kernel's PTX has any (without, the threads run as
// plain calls).
std::string run_grid(const Kernel& kernel, void** params, dim3 grid, dim3 block, bool barriers,
                     const Schedule& schedule);

// The kernel, block and thread running on this host thread, for fault reports ("" when none).
std::string running_where();

// Whether `addr` is in the guard page of one of this host thread's fiber stacks.
bool in_stack_guard(const void* addr);

}  // namespace rll_emu
