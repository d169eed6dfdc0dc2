// Fibers for the CUDA threads of one block: each runs until its next __syncthreads() or its end, in the
// schedule's order (a fresh one for every round), and the round repeats until all have ended. A round in which some threads ended while others wait at a
// barrier is a divergent __syncthreads() (undefined on a device): the launch fails and says where. A kernel whose
// PTX has no barrier runs its threads as plain calls, one after the other.
//
// The switch between fibers is six callee-saved registers and the stack pointer (x86-64 System V), with no system
// call: a __syncthreads() costs a few nanoseconds per thread, where ucontext's swapcontext costs a sigprocmask.
#include "blocks.h"

#include "races.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>

#include <cstdint>
#include <cstdio>
#include <utility>
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

// SplitMix64's finaliser: a well-spread 64-bit hash of a counter.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// 0..count-1 in the schedule's order; `key` names what is ordered (the grid, or one interval of one block), so a
// shuffle is a fresh permutation for each, the same in every run with the same seed.
void arrange(std::vector<std::uint64_t>& out, std::uint64_t count, const Schedule& schedule, std::uint64_t key) {
  out.resize(count);
  for (std::uint64_t k = 0; k < count; ++k) out[k] = schedule.order == Order::reverse ? count - 1 - k : k;
  if (schedule.order != Order::shuffle) return;
  std::uint64_t state = mix(schedule.seed ^ mix(key));
  for (std::uint64_t k = count; k > 1; --k) {  // Fisher-Yates
    state = mix(state + 0x9e3779b97f4a7c15ull);
    std::swap(out[k - 1], out[state % k]);
  }
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

const char* order_name(Order order) {
  switch (order) {
    case Order::forward: return "forward";
    case Order::reverse: return "reverse";
    case Order::shuffle: return "shuffle";
  }
  return "?";
}

std::string run_grid(const Kernel& kernel, void** params, dim3 grid, dim3 block, bool barriers,
                     const Schedule& schedule) {
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
  races_begin_launch(schedule.races);
  std::string error;
  const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
  // Only a shuffle needs the grid's permutation in memory (a grid may have 2^31 blocks).
  std::vector<std::uint64_t> shuffled;
  if (schedule.order == Order::shuffle) arrange(shuffled, blocks, schedule, ~std::uint64_t{0});
  std::vector<std::uint64_t> thread_order;
  for (std::uint64_t k = 0; k < blocks && error.empty(); ++k) {
    const std::uint64_t b = schedule.order == Order::forward ? k
                            : schedule.order == Order::reverse ? blocks - 1 - k
                                                               : shuffled[k];
    const unsigned bx = static_cast<unsigned>(b % grid.x), by = static_cast<unsigned>(b / grid.x % grid.y),
                   bz = static_cast<unsigned>(b / (std::uint64_t{grid.x} * grid.y));
    block_idx = uint3{bx, by, bz};
    races_begin_block(block_idx);
    if (!barriers) {
      arrange(thread_order, threads, schedule, mix(b));
      for (const std::uint64_t t : thread_order) {
        thread_idx = index_of(static_cast<unsigned>(t), block);
        races_set_thread(static_cast<unsigned>(t));
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
      if (round > 0) races_next_interval();
      arrange(thread_order, threads, schedule, mix(b) + round);
      for (const std::uint64_t t : thread_order) {
        if (run.fibers[t].ended) continue;
        run.current = static_cast<unsigned>(t);
        thread_idx = index_of(run.current, block);
        races_set_thread(run.current);
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
  const std::string race = races_end_launch();
  if (error.empty()) error = race;
  run.kernel = nullptr;
  return error;
}

}  // namespace rll_emu
