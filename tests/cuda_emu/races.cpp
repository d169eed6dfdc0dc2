// The shared-memory race detector of races.h, and the -fsanitize=thread callbacks that feed it.
#include "races.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace rll_emu {

namespace {

// One `__shared__` array: its offset and size in this library's TLS segment, and a readable name.
struct SharedSymbol {
  std::uintptr_t offset;
  std::size_t bytes;
  std::string name;
};

struct Layout {
  std::vector<SharedSymbol> symbols;  // by offset
  std::uintptr_t lo = 0, hi = 0;      // the span of all of them
  std::uintptr_t anchor = 0;          // the offset of rll_emu::thread_idx, whose address this thread knows
  std::string error;                  // why no layout could be read ("" when it was)
};

// "gram_distance<float>(float const*, ...)::as" -> "gram_distance<float>::as".
std::string short_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string s = status == 0 && d != nullptr ? d : mangled;
  std::free(d);
  // The checked build's copy: its unnamed namespace and renamed entries (build.py) are not the kernel's names.
  const std::pair<std::string, std::string> noise[] = {{"(anonymous namespace)::", ""}, {"_checked::", "::"}};
  for (const auto& [from, to] : noise)
    for (std::size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, from.size(), to);
  const std::size_t sep = s.rfind("::");
  if (sep == std::string::npos || sep == 0 || s[sep - 1] != ')') return s;
  int depth = 0;
  for (std::size_t k = sep; k-- > 0;) {
    if (s[k] == ')') ++depth;
    if (s[k] == '(' && --depth == 0) return s.substr(0, k) + s.substr(sep);
  }
  return s;
}

// The STT_TLS symbols of this library's own symbol table (it is built with -g and never stripped): the kernels'
// function-local `static thread_local` arrays are the `__shared__` ones (mangled _ZZ, outside namespace rll_emu).
Layout read_layout() {
  Layout layout;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&races_begin_launch), &info) == 0 || info.dli_fname == nullptr) {
    layout.error = "dladdr found no file for the emulation's library";
    return layout;
  }
  const int fd = open(info.dli_fname, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    layout.error = std::string("cannot read ") + info.dli_fname;
    if (fd >= 0) close(fd);
    return layout;
  }
  void* map = mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    layout.error = std::string("cannot map ") + info.dli_fname;
    return layout;
  }
  const char* base = static_cast<const char*>(map);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  bool anchor = false;
  for (unsigned k = 0; k < eh->e_shnum; ++k) {
    if (sh[k].sh_type != SHT_SYMTAB) continue;
    const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[k].sh_offset);
    const char* names = base + sh[sh[k].sh_link].sh_offset;
    for (std::size_t s = 0; s < sh[k].sh_size / sizeof(Elf64_Sym); ++s) {
      if (ELF64_ST_TYPE(syms[s].st_info) != STT_TLS || syms[s].st_shndx == SHN_UNDEF) continue;
      const char* name = names + syms[s].st_name;
      if (std::strcmp(name, "_ZN7rll_emu10thread_idxE") == 0) {
        layout.anchor = syms[s].st_value;
        anchor = true;
      } else if (std::strncmp(name, "_ZZ", 3) == 0 && std::strncmp(name, "_ZZN7rll_emu", 12) != 0 &&
                 syms[s].st_size > 0) {
        layout.symbols.push_back(SharedSymbol{syms[s].st_value, syms[s].st_size, short_name(name)});
      }
    }
  }
  munmap(map, static_cast<std::size_t>(st.st_size));
  if (!anchor || layout.symbols.empty()) {
    layout.error = std::string("no symbol table with the kernels' shared arrays in ") + info.dli_fname;
    return layout;
  }
  std::sort(layout.symbols.begin(), layout.symbols.end(),
            [](const SharedSymbol& a, const SharedSymbol& b) { return a.offset < b.offset; });
  layout.lo = layout.symbols.front().offset;
  for (const SharedSymbol& s : layout.symbols) layout.hi = std::max(layout.hi, s.offset + s.bytes);
  return layout;
}

const Layout& layout() {
  static const Layout l = read_layout();
  return l;
}

constexpr std::uint16_t kNone = 0xFFFF, kMany = 0xFFFE;

// What one byte of shared memory saw: in which barrier interval its `writer` and `reader` were recorded (a stale
// interval means neither), and in which block it was last written.
struct Cell {
  std::uint32_t interval = 0, written_block = 0;
  std::uint16_t writer = kNone, reader = kNone;
};

struct State {
  std::uintptr_t lo = 0, span = 0;  // this thread's addresses of the shared arrays
  std::vector<Cell> shadow;
  std::uint32_t interval = 0, block_serial = 0, barrier = 0;
  uint3 block{0, 0, 0};
  unsigned thread = 0;
  std::string first;  // the launch's first race
};

thread_local State state;

// What every instrumented access reads first: this thread's shared arrays when armed, else an empty span.
struct Armed {
  std::uintptr_t lo = 0, span = 0;
};
thread_local Armed armed;

std::string who(std::uint16_t t) { return t == kMany ? "several threads" : "thread " + std::to_string(t); }

void report(std::uintptr_t off, const char* kind, const std::string& what) {
  if (!state.first.empty()) return;
  const Layout& l = layout();
  const std::uintptr_t at = l.lo + off;
  auto it = std::upper_bound(l.symbols.begin(), l.symbols.end(), at,
                             [](std::uintptr_t a, const SharedSymbol& s) { return a < s.offset; });
  std::string where = "shared memory";
  if (it != l.symbols.begin() && at < std::prev(it)->offset + std::prev(it)->bytes)
    where = "__shared__ " + std::prev(it)->name + ", byte " + std::to_string(at - std::prev(it)->offset);
  char buf[120];
  std::snprintf(buf, sizeof buf, "in block (%u, %u, %u), between barriers %u and %u: ", state.block.x, state.block.y,
                state.block.z, state.barrier, state.barrier + 1);
  state.first = std::string(kind) + " " + buf + where + ": " + what;
}

void shared_access(const void* addr, std::size_t bytes, bool write) {
  const std::uintptr_t off = reinterpret_cast<std::uintptr_t>(addr) - armed.lo;
  if (off >= armed.span) return;
  State& s = state;
  const std::uint16_t t = static_cast<std::uint16_t>(s.thread);
  const std::size_t end = std::min<std::size_t>(off + bytes, s.span);
  for (std::size_t b = off; b < end; ++b) {
    Cell& c = s.shadow[b];
    if (c.interval != s.interval) {
      c.interval = s.interval;
      c.writer = c.reader = kNone;
    }
    if (write) {
      if (c.writer != kNone && c.writer != t)
        report(b, "shared-memory race", who(c.writer) + " and thread " + std::to_string(t) + " both write it");
      else if (c.reader != kNone && c.reader != t)
        report(b, "shared-memory race", who(c.reader) + " reads it and thread " + std::to_string(t) + " writes it");
      c.writer = t;
      c.written_block = s.block_serial;
    } else {
      if (c.written_block != s.block_serial)
        report(b, "read of unwritten shared memory", "thread " + std::to_string(t) + " reads it before any thread of the block wrote it (a missing __syncthreads(), or memory that "
                       "a device leaves undefined)");
      else if (c.writer != kNone && c.writer != t)
        report(b, "shared-memory race", who(c.writer) + " writes it and thread " + std::to_string(t) + " reads it");
      c.reader = c.reader == kNone || c.reader == t ? t : kMany;
    }
  }
}

}  // namespace

void races_begin_launch(bool on) {
  State& s = state;
  s.first.clear();
  if (!on) return;
  const Layout& l = layout();
  if (!l.error.empty()) {
    s.first = "the race detector cannot run: " + l.error;
    return;
  }
  const std::uintptr_t tls = reinterpret_cast<std::uintptr_t>(&thread_idx) - l.anchor;
  s.lo = tls + l.lo;
  s.span = l.hi - l.lo;
  if (s.shadow.size() != s.span) s.shadow.assign(s.span, Cell{});
  armed = Armed{s.lo, s.span};
}

void races_begin_block(uint3 block) {
  state.block = block;
  state.barrier = 0;
  ++state.block_serial;
  ++state.interval;
}

void races_next_interval() {
  ++state.barrier;
  ++state.interval;
}

void races_set_thread(unsigned t) { state.thread = t; }

std::string races_end_launch() {
  armed = Armed{};
  return state.first;
}

}  // namespace rll_emu

// The instrumentation's entry points (GCC -fsanitize=thread, compiled into the kernel families only). Atomics
// and function entry/exit are not instrumented: no kernel uses atomics, and build.py turns the latter off.
#define RLL_EMU_TSAN_ACCESS(n)                                                    \
  void __tsan_read##n(void* a) { rll_emu::shared_access(a, n, false); }           \
  void __tsan_write##n(void* a) { rll_emu::shared_access(a, n, true); }           \
  void __tsan_unaligned_read##n(void* a) { rll_emu::shared_access(a, n, false); } \
  void __tsan_unaligned_write##n(void* a) { rll_emu::shared_access(a, n, true); }

extern "C" {
__attribute__((visibility("default"))) void __tsan_init() {}
RLL_EMU_TSAN_ACCESS(1)
RLL_EMU_TSAN_ACCESS(2)
RLL_EMU_TSAN_ACCESS(4)
RLL_EMU_TSAN_ACCESS(8)
RLL_EMU_TSAN_ACCESS(16)
void __tsan_read_range(void* a, unsigned long n) { rll_emu::shared_access(a, n, false); }
void __tsan_write_range(void* a, unsigned long n) { rll_emu::shared_access(a, n, true); }
}
