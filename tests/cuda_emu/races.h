// Shared-memory race detection for the kernel emulation (docs/gpu.md). The kernel families are compiled with
// GCC's -fsanitize=thread instrumentation, and races.cpp serves its __tsan_read*/__tsan_write* callbacks itself
// (no TSan runtime is linked): each access to a `__shared__` array is checked against a shadow byte map of the
// block's shared memory. Flagged, per block:
// - two threads touching one byte in one barrier interval, one of them writing (a missing __syncthreads());
// - a thread reading a byte that no thread of this block has written (on a device, another block's leftovers).
// The shared arrays are `static thread_local` (cuda_builtins.h): their offsets and names come from this library's
// own ELF symbol table (STT_TLS symbols of function-local statics), their addresses from this host thread's TLS.
#pragma once

#include <string>

#include "cuda_builtins.h"

namespace rll_emu {

// Arms the detector on this host thread for one launch (a no-op when `on` is false).
void races_begin_launch(bool on);
// A new block: its shared memory counts as never written.
void races_begin_block(uint3 block);
// A new barrier interval of the current block (every live thread passed a __syncthreads()).
void races_next_interval();
// The block's thread (linear index) whose accesses follow.
void races_set_thread(unsigned t);
// Disarms the detector; the launch's first race, described, or "" when none.
std::string races_end_launch();

}  // namespace rll_emu
