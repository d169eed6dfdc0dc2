// Fibers for the CUDA threads of one block: each runs until its next __syncthreads() or its end, in thread
// order, and the round repeats until all have ended. A round in which some threads ended while others wait at a
// barrier is a divergent __syncthreads() (undefined on a device): the launch fails and says where. A kernel whose
// PTX has no barrier runs its threads as plain calls, one after the other.
//
// The switch between fibers is six callee-saved registers and the stack pointer (x86-64 System V), with no system
// call: a __syncthreads() costs a few nanoseconds per thread, where ucontext's swapcontext costs a sigprocmask.
#include "blocks.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

#include <cstdio>
#include <vector>

#if !defined(__x86_64__)
#error "the kernel emulation's fiber switch is written for x86-64"
#endif

// rll_emu_switch(save, next): pushes the callee-saved registers, stores the stack pointer in *save, loads next
// and pops the registers saved there.
asm(R"(
  .text
  .p2align 4
  .type rll_emu_switch, @function
rll_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size rll_emu_switch, .-rll_emu_switch
)");
extern "C" void rll_emu_switch(void** save, void* next);

namespace rll_emu {

RLL_EMU_TLS uint3 thread_idx;
RLL_EMU_TLS uint3 block_idx;
RLL_EMU_TLS dim3 block_dim;
RLL_EMU_TLS dim3 grid_dim;

namespace {

// Kernel frames are small (a few KiB of registers spilled at most); a guard page below each stack.
constexpr std::size_t kStackBytes = 128 * 1024;

struct Fiber {
  void* sp = nullptr;     // the saved stack pointer while switched out
  char* stack = nullptr;  // kStackBytes above one guard page
  bool ended = false;
};

struct BlockRun {
  void* scheduler_sp = nullptr;
  bool fibers_on = false;
  std::vector<Fiber> fibers;
  const Kernel* kernel = nullptr;
  void** params = nullptr;
  unsigned current = 0;
};

RLL_EMU_TLS BlockRun run;

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

[[noreturn]] void fiber_main() {
  run.kernel->invoke(run.kernel->fn, run.params);
  Fiber& f = run.fibers[run.current];
  f.ended = true;
  rll_emu_switch(&f.sp, run.scheduler_sp);
  std::abort();  // an ended fiber is never resumed
}

// A fresh fiber on `stack`: the first switch to it pops six zeroed registers and returns into fiber_main with
// the stack aligned as at a call.
// `colour` staggers the tops of the stacks across cache sets: page-aligned tops would all map to the same L1 and
// L2 sets and evict each other at every switch.
void* start(char* stack, unsigned colour) {
  auto* top = reinterpret_cast<void**>(stack + kStackBytes - (colour % 64) * 64 - (colour / 64 % 16) * 4096);
  *--top = nullptr;                                         // fiber_main's return address (never used)
  *--top = reinterpret_cast<void*>(&fiber_main);            // popped by rll_emu_switch's ret
  for (int r = 0; r < 6; ++r) *--top = nullptr;             // rbp, rbx, r12-r15
  return top;
}

uint3 index_of(unsigned t, dim3 block) {
  return uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
}

}  // namespace

void sync_threads() {
  if (!run.fibers_on) {
    std::fprintf(stderr, "rll cuda-emu: __syncthreads() in a kernel whose PTX has no barrier (stale PTX?)\n");
    std::abort();
  }
  Fiber& f = run.fibers[run.current];
  rll_emu_switch(&f.sp, run.scheduler_sp);
}

std::string running_where() {
  if (run.kernel == nullptr) return "";
  char buf[160];
  const uint3 t = thread_idx;
  std::snprintf(buf, sizeof buf, "block (%u, %u, %u), thread (%u, %u, %u)", block_idx.x, block_idx.y, block_idx.z,
                t.x, t.y, t.z);
  return buf;
}

bool in_stack_guard(const void* addr) {
  const char* a = static_cast<const char*>(addr);
  for (const Fiber& f : run.fibers)
    if (f.stack != nullptr && a >= f.stack - page_size() && a < f.stack) return true;
  return false;
}

std::string run_grid(const Kernel& kernel, void** params, dim3 grid, dim3 block, bool barriers) {
  const unsigned threads = block.x * block.y * block.z;
  while (run.fibers.size() < threads) {
    Fiber f;
    void* m = mmap(nullptr, kStackBytes + page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return "no host memory for the fibers' stacks";
    mprotect(m, page_size(), PROT_NONE);
    f.stack = static_cast<char*>(m) + page_size();
    run.fibers.push_back(f);
  }
  run.kernel = &kernel;
  run.params = params;
  run.fibers_on = barriers;
  block_dim = block;
  grid_dim = grid;
  std::string error;
  for (unsigned bz = 0; bz < grid.z && error.empty(); ++bz)
    for (unsigned by = 0; by < grid.y && error.empty(); ++by)
      for (unsigned bx = 0; bx < grid.x && error.empty(); ++bx) {
        block_idx = uint3{bx, by, bz};
        if (!barriers) {
          for (unsigned t = 0; t < threads; ++t) {
            thread_idx = index_of(t, block);
            kernel.invoke(kernel.fn, params);
          }
          continue;
        }
        for (unsigned t = 0; t < threads; ++t) {
          run.fibers[t].sp = start(run.fibers[t].stack, t);
          run.fibers[t].ended = false;
        }
        unsigned live = threads;
        for (unsigned round = 0; live > 0; ++round) {
          for (unsigned t = 0; t < threads; ++t) {
            if (run.fibers[t].ended) continue;
            run.current = t;
            thread_idx = index_of(t, block);
            rll_emu_switch(&run.scheduler_sp, run.fibers[t].sp);
          }
          unsigned ended = 0;
          for (unsigned t = 0; t < threads; ++t) ended += run.fibers[t].ended;
          if (ended > 0 && ended < threads) {
            char buf[200];
            std::snprintf(buf, sizeof buf,
                          "divergent __syncthreads() in block (%u, %u, %u): %u of %u threads ended while the "
                          "others wait at barrier %u",
                          bx, by, bz, ended, threads, round + 1);
            error = buf;  // the waiting fibers are abandoned; their stacks are reused by the next launch
            break;
          }
          live = threads - ended;
        }
      }
  run.kernel = nullptr;
  return error;
}

}  // namespace rll_emu
