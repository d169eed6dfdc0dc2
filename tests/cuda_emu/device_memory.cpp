#include "device_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

namespace rll_emu {

namespace {

struct Allocation {
  std::uintptr_t map_base;  // the mapping: guard page, data pages, guard page
  std::size_t map_bytes;
  std::size_t bytes;
  unsigned long serial;
};

std::mutex mutex;
std::map<std::uintptr_t, Allocation> live;  // by user pointer
std::size_t in_use = 0;
unsigned long next_serial = 1;

std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

// An H200's 141 GiB would never run out here; 8 GiB is more than any test allocates and less than an N x N
// matrix at N = 2^16.
std::size_t capacity() {
  static const std::size_t c = [] {
    const char* v = std::getenv("RLL_CUDA_EMU_MEMORY");
    return v != nullptr ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : std::size_t{8} << 30;
  }();
  return c;
}

// The allocation whose user range contains ptr, or live.end().
std::map<std::uintptr_t, Allocation>::iterator containing(std::uintptr_t ptr) {
  auto it = live.upper_bound(ptr);
  if (it == live.begin()) return live.end();
  --it;
  return ptr < it->first + it->second.bytes ? it : live.end();
}

}  // namespace

std::uintptr_t device_alloc(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  if (bytes == 0 || bytes > capacity() - in_use) return 0;
  const std::size_t p = page(), data = (bytes + p - 1) / p * p, total = data + 2 * p;
  void* m = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return 0;
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(m);
  if (mprotect(reinterpret_cast<void*>(base + p), data, PROT_READ | PROT_WRITE) != 0) {
    munmap(m, total);
    return 0;
  }
  const std::uintptr_t user = base + p + (data - bytes);
  std::memset(reinterpret_cast<void*>(user), 0xFF, bytes);
  live[user] = Allocation{base, total, bytes, next_serial++};
  in_use += bytes;
  return user;
}

bool device_free(std::uintptr_t ptr) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = live.find(ptr);
  if (it == live.end()) return false;
  munmap(reinterpret_cast<void*>(it->second.map_base), it->second.map_bytes);
  in_use -= it->second.bytes;
  live.erase(it);
  return true;
}

bool device_range(std::uintptr_t ptr, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = containing(ptr);
  return it != live.end() && bytes <= it->first + it->second.bytes - ptr;
}

bool device_pointer(std::uintptr_t ptr) {
  std::lock_guard<std::mutex> lock(mutex);
  return containing(ptr) != live.end();
}

bool device_allocation(std::uintptr_t ptr, std::uintptr_t* base, std::size_t* bytes) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = containing(ptr);
  if (it == live.end()) return false;
  *base = it->first;
  *bytes = it->second.bytes;
  return true;
}

std::size_t device_capacity() { return capacity(); }

std::size_t device_in_use() {
  std::lock_guard<std::mutex> lock(mutex);
  return in_use;
}

// Called from the SIGSEGV handler on the way to abort(): no lock (the faulting thread may hold none, and the
// process ends either way).
std::string describe_guard_fault(std::uintptr_t addr) {
  for (const auto& [user, a] : live) {
    if (addr < a.map_base || addr >= a.map_base + a.map_bytes) continue;
    char buf[200];
    if (addr >= user + a.bytes)
      std::snprintf(buf, sizeof buf, "%zu bytes past the end of device allocation #%lu (%zu bytes at 0x%lx)",
                    static_cast<std::size_t>(addr - (user + a.bytes)), a.serial, a.bytes,
                    static_cast<unsigned long>(user));
    else
      std::snprintf(buf, sizeof buf, "%zu bytes before device allocation #%lu (%zu bytes at 0x%lx)",
                    static_cast<std::size_t>(user - addr), a.serial, a.bytes, static_cast<unsigned long>(user));
    return buf;
  }
  return "";
}

}  // namespace rll_emu
