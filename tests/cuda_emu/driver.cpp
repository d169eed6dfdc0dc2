// The subset of the CUDA driver API that cudarc and our C tests call, for the kernel emulation (docs/gpu.md):
// built as libcuda.so, found first on LD_LIBRARY_PATH, it runs the kernels of cuda/*.cu compiled for the CPU.
// One device ("RLL CUDA emulation (CPU)"), its primary context, streams that execute in issue order at once
// (every call is synchronous), events as no-ops. It refuses what a real device refuses: a zero grid, more than
// 1024 threads per block, more than 48 KiB of static shared memory, and it checks each launch's arguments against
// the kernel's `.entry` list in the loaded PTX: the number of kernelParams (src/cuda/launch.rs ends the list with
// a NULL that a real driver never reads), each size against the compiled kernel's, and each pointer parameter
// pointing into device memory. Never a GPU run: it checks the kernels' logic, the launch code and the host side.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "blocks.h"
#include "device_memory.h"
#include "ptx.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct Context* CUcontext;
typedef struct Module* CUmodule;
typedef struct Function* CUfunction;
typedef struct Stream* CUstream;
typedef struct Event* CUevent;
typedef struct MemPool* CUmemoryPool;

enum : CUresult {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_NOT_SUPPORTED = 801,
};

struct Context {};
struct Function {
  std::string name;
  rll_emu::PtxEntry ptx;
  const rll_emu::Kernel* kernel;   // the plain build
  const rll_emu::Kernel* checked;  // the build whose shared-memory accesses are checked (races.h)
};
struct Module {
  std::map<std::string, std::unique_ptr<Function>> functions;
};
struct Stream {};
struct Event {};
struct MemPool {};

namespace rll_emu {

namespace {

// The device's limits (those of every NVIDIA GPU since Volta).
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlock[3] = {1024, 1024, 64};
constexpr unsigned kMaxGrid[3] = {2147483647u, 65535, 65535};
constexpr std::size_t kMaxSharedPerBlock = 48 * 1024;

std::mutex mutex;
struct Builds {
  Kernel plain, checked;
  bool has_plain = false, has_checked = false;
};
std::map<std::string, Builds>& registry() {
  static std::map<std::string, Builds> r;
  return r;
}
Context primary;
MemPool pool;
int primary_refs = 0;
bool initialised = false;
std::set<Module*> modules;
std::set<Stream*> streams;
std::set<Event*> events;
std::set<std::string> launched;
// RLL_CUDA_EMU_PROFILE=1: launches and seconds per kernel, on stderr at exit (to size the tests).
std::map<std::string, std::pair<long, double>> profile;
const bool profiling = std::getenv("RLL_CUDA_EMU_PROFILE") != nullptr;
struct ProfileReport {
  ~ProfileReport() {
    for (const auto& [name, p] : profile)
      std::fprintf(stderr, "rll cuda-emu profile: %-32s %8ld launches %9.3f s\n", name.c_str(), p.first, p.second);
  }
} profile_report;
thread_local CUcontext current = nullptr;

// What a stream-ordered call may not do, counted per host thread (rll_emu_counts): host synchronizations (stream,
// context, event), device-to-host copies, allocations and frees, each API call once.
enum Counted { kSyncs, kDeviceToHost, kAllocations, kFrees, kCounted };
thread_local unsigned long long counted[kCounted];
thread_local const char* running_kernel = nullptr;

// Every failure is also said on stderr: the caller sees only a code.
CUresult fail(CUresult code, const std::string& what) {
  std::fprintf(stderr, "rll cuda-emu: %s\n", what.c_str());
  return code;
}

bool known_stream(CUstream s) {
  const auto v = reinterpret_cast<std::uintptr_t>(s);
  if (v == 0 || v == 1 || v == 2) return true;  // the legacy and per-thread default streams
  std::lock_guard<std::mutex> lock(mutex);
  return streams.count(s) != 0;
}

void on_segv(int sig, siginfo_t* info, void* uctx);
struct sigaction previous_segv;

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  std::string what = describe_guard_fault(addr);
  if (what.empty() && in_stack_guard(info->si_addr)) what = "stack overflow of a CUDA thread";
  if (what.empty() && running_kernel == nullptr) {
    // Not ours: hand the signal to whoever handled it before (Rust's stack-overflow report, or the default).
    sigaction(SIGSEGV, &previous_segv, nullptr);
    return;
  }
  if (what.empty()) what = "a host address outside device memory (0x" + std::to_string(addr) + ")";
  std::string msg = "rll cuda-emu: out-of-bounds device access: " + what;
  if (running_kernel != nullptr) msg += std::string(" in kernel ") + running_kernel + ", " + running_where();
  msg += "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
  (void)sig;
  (void)uctx;
  abort();
}

// One line per kernel per process in $RLL_CUDA_EMU_REPORT, for launched.py's counts: the name when it is first
// launched, "checked NAME" when it first runs with the checks (every order, the race check).
void note_launch(const std::string& line_text) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!launched.insert(line_text).second) return;
  }
  const char* path = std::getenv("RLL_CUDA_EMU_REPORT");
  if (path == nullptr) return;
  const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  const std::string line = line_text + "\n";
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

// The schedules a checked launch runs under (blocks.h): RLL_CUDA_EMU_ORDERS, a comma-separated list of forward,
// reverse and shuffle (all three by default), RLL_CUDA_EMU_SEED for the shuffle (1), RLL_CUDA_EMU_RACES=0 to
// leave out the shared-memory race check, which runs with the first order. The checks cost a few times the run,
// so in a process they are made on the first RLL_CUDA_EMU_CHECK_LAUNCHES launches (2) of each kernel at each
// launch shape (grid and block) whose arguments reach at most RLL_CUDA_EMU_CHECK_BYTES of device memory (1 MiB;
// "all" lifts either limit); the other launches run the plain build once, in the first order. launched.py fails
// if a kernel was never checked.
std::vector<Schedule> read_schedules() {
  const char* orders = std::getenv("RLL_CUDA_EMU_ORDERS");
  const char* seed = std::getenv("RLL_CUDA_EMU_SEED");
  const char* races = std::getenv("RLL_CUDA_EMU_RACES");
  std::vector<Schedule> plan;
  const std::string list = orders != nullptr ? orders : "forward,reverse,shuffle";
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const std::string word = list.substr(at, comma - at);
    Schedule s;
    if (word == "forward") s.order = Order::forward;
    else if (word == "reverse") s.order = Order::reverse;
    else if (word == "shuffle") s.order = Order::shuffle;
    else {
      std::fprintf(stderr, "rll cuda-emu: RLL_CUDA_EMU_ORDERS = '%s': '%s' is not forward, reverse or shuffle\n",
                   list.c_str(), word.c_str());
      std::abort();
    }
    s.seed = seed != nullptr ? std::strtoull(seed, nullptr, 10) : 1;
    plan.push_back(s);
    at = comma + 1;
  }
  plan[0].races = races == nullptr || std::strcmp(races, "0") != 0;
  return plan;
}

const std::vector<Schedule>& schedules() {
  static const std::vector<Schedule> plan = read_schedules();
  return plan;
}

std::size_t limit_from(const char* variable, std::size_t fallback) {
  const char* v = std::getenv(variable);
  if (v != nullptr && std::strcmp(v, "all") == 0) return SIZE_MAX;
  return v != nullptr ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

// Whether this launch of `name`, reaching `reach` bytes, is one to check (and if so, counts it).
bool take_check(const std::string& name, dim3 grid, dim3 block, std::size_t reach) {
  static const std::size_t max_bytes = limit_from("RLL_CUDA_EMU_CHECK_BYTES", std::size_t{1} << 20);
  static const std::size_t max_launches = limit_from("RLL_CUDA_EMU_CHECK_LAUNCHES", 2);
  static std::map<std::string, std::size_t> checked;
  if (reach > max_bytes) return false;
  char shape[96];
  std::snprintf(shape, sizeof shape, " (%u, %u, %u) (%u, %u, %u)", grid.x, grid.y, grid.z, block.x, block.y, block.z);
  std::lock_guard<std::mutex> lock(mutex);
  std::size_t& count = checked[name + shape];
  if (count >= max_launches) return false;
  ++count;
  return true;
}

// Runs the launch once per schedule from the same device memory and requires the same bytes from each: the
// allocations its pointer arguments point into are all a kernel can reach, so they are saved before the first
// run, put back before each further one, and compared after it. A device fixes neither the order of blocks nor
// that of threads between barriers, so any difference is a race.
std::string run_in_every_order(const Function& f, void** params, dim3 grid, dim3 block) {
  const std::vector<Schedule>& plan = schedules();
  struct Region {
    std::size_t arg;
    unsigned char* data;
    std::size_t bytes;
    std::vector<unsigned char> before, after;
  };
  std::vector<Region> regions;
  std::size_t reach = 0;
  for (std::size_t i = 0; i < f.checked->params.size(); ++i) {
    std::uintptr_t p = 0, base = 0;
    std::size_t bytes = 0;
    if (f.checked->params[i].pointer) p = *static_cast<const std::uintptr_t*>(params[i]);
    if (p == 0 || !device_allocation(p, &base, &bytes)) continue;
    bool seen = false;
    for (const Region& r : regions) seen |= reinterpret_cast<std::uintptr_t>(r.data) == base;
    if (seen) continue;
    regions.push_back(Region{i, reinterpret_cast<unsigned char*>(base), bytes, {}, {}});
    reach += bytes;
  }
  if (!take_check(f.name, grid, block, reach)) {
    Schedule once = plan[0];
    once.races = false;
    return run_grid(*f.kernel, params, grid, block, f.ptx.barriers, once);
  }
  note_launch("checked " + f.name);
  for (Region& r : regions)
    if (plan.size() > 1) r.before.assign(r.data, r.data + r.bytes);
  for (std::size_t k = 0; k < plan.size(); ++k) {
    for (Region& r : regions)
      if (k > 0) std::memcpy(r.data, r.before.data(), r.bytes);
    // The race check needs the checked build; the further orders compare bytes only and take the plain one.
    const Kernel& kernel = k == 0 ? *f.checked : *f.kernel;
    const std::string error = run_grid(kernel, params, grid, block, f.ptx.barriers, plan[k]);
    if (!error.empty())
      return plan.size() > 1 ? error + " (" + order_name(plan[k].order) + " order)" : error;
    for (Region& r : regions) {
      if (plan.size() == 1) break;
      if (k == 0) {
        r.after.assign(r.data, r.data + r.bytes);
        continue;
      }
      const auto diff = std::mismatch(r.after.begin(), r.after.end(), r.data);
      if (diff.first == r.after.end()) continue;
      return "results depend on the order of blocks or threads: the memory of argument " + std::to_string(r.arg) +
             " (" + std::to_string(r.bytes) + " bytes) differs at byte " +
             std::to_string(diff.first - r.after.begin()) + " between the " + order_name(plan[0].order) +
             " and the " + order_name(plan[k].order) + " order (a race between threads or blocks)";
    }
  }
  return "";
}

CUresult check_context() {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  if (current != &primary || primary_refs == 0) return fail(CUDA_ERROR_INVALID_CONTEXT, "no current context");
  return CUDA_SUCCESS;
}

}  // namespace

void register_kernels(std::initializer_list<std::pair<const char*, Kernel>> kernels, Build build) {
  for (const auto& [name, k] : kernels) {
    Builds& b = registry()[name];
    (build == Build::plain ? b.plain : b.checked) = k;
    (build == Build::plain ? b.has_plain : b.has_checked) = true;
  }
}

}  // namespace rll_emu

using namespace rll_emu;

extern "C" {

CUresult cuInit(unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  if (!initialised) {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, &previous_segv);
    std::fprintf(stderr,
                 "rll cuda-emu: CUDA driver calls served by the kernel emulation on the CPU (tests/cuda_emu), "
                 "not a GPU\n");
    initialised = true;
  }
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int* v) {
  if (v == nullptr) return CUDA_ERROR_INVALID_VALUE;
  *v = 12080;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int* count) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  *count = 1;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice* dev, int ordinal) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *dev = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char* name, int len, CUdevice dev) {
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::snprintf(name, static_cast<std::size_t>(len), "RLL CUDA emulation (CPU)");
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(std::size_t* bytes, CUdevice dev) {
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  *bytes = device_capacity();
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int* value, int attribute, CUdevice dev) {
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  switch (attribute) {
    case 1: *value = kMaxThreadsPerBlock; break;                        // MAX_THREADS_PER_BLOCK
    case 2: case 3: case 4: *value = kMaxBlock[attribute - 2]; break;    // MAX_BLOCK_DIM_X/Y/Z
    case 5: case 6: case 7: *value = static_cast<int>(kMaxGrid[attribute - 5]); break;  // MAX_GRID_DIM_X/Y/Z
    case 8: *value = kMaxSharedPerBlock; break;                          // MAX_SHARED_MEMORY_PER_BLOCK
    case 10: *value = 32; break;                                         // WARP_SIZE
    case 16: *value = 1; break;                                          // MULTIPROCESSOR_COUNT
    case 75: *value = 9; break;                                          // COMPUTE_CAPABILITY_MAJOR
    case 76: *value = 0; break;                                          // COMPUTE_CAPABILITY_MINOR
    case 115: *value = 1; break;                                         // MEMORY_POOLS_SUPPORTED
    default: *value = 0; break;
  }
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext* ctx, CUdevice dev) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  ++primary_refs;
  *ctx = &primary;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  if (primary_refs == 0) return CUDA_ERROR_INVALID_CONTEXT;
  --primary_refs;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext* ctx) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  *ctx = current;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(CUcontext ctx) {
  if (!initialised) return CUDA_ERROR_NOT_INITIALIZED;
  if (ctx != nullptr && ctx != &primary) return CUDA_ERROR_INVALID_CONTEXT;
  current = ctx;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice* dev) {
  if (CUresult r = check_context()) return r;
  *dev = 0;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize() {
  ++rll_emu::counted[rll_emu::kSyncs];
  return check_context();
}

CUresult cuMemGetInfo_v2(std::size_t* free_bytes, std::size_t* total) {
  if (CUresult r = check_context()) return r;
  *total = device_capacity();
  *free_bytes = *total - device_in_use();
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr* ptr, std::size_t bytes) {
  ++rll_emu::counted[rll_emu::kAllocations];
  if (CUresult r = check_context()) return r;
  if (bytes == 0) return CUDA_ERROR_INVALID_VALUE;
  const std::uintptr_t p = device_alloc(bytes);
  if (p == 0) return CUDA_ERROR_OUT_OF_MEMORY;
  *ptr = p;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocAsync(CUdeviceptr* ptr, std::size_t bytes, CUstream s) {
  if (!known_stream(s)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuMemAllocAsync: unknown stream");
  return cuMemAlloc_v2(ptr, bytes);
}

CUresult cuMemFree_v2(CUdeviceptr ptr) {
  ++rll_emu::counted[rll_emu::kFrees];
  if (CUresult r = check_context()) return r;
  if (ptr == 0) return CUDA_SUCCESS;
  if (!device_free(ptr)) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemFree of a pointer that is not an allocation");
  return CUDA_SUCCESS;
}

CUresult cuMemFreeAsync(CUdeviceptr ptr, CUstream s) {
  if (!known_stream(s)) return fail(CUDA_ERROR_INVALID_HANDLE, "cuMemFreeAsync: unknown stream");
  return cuMemFree_v2(ptr);
}

static CUresult copy(void* dst, const void* src, std::size_t bytes, bool dst_device, bool src_device,
                     const char* what) {
  if (CUresult r = check_context()) return r;
  if (dst_device && !device_range(reinterpret_cast<std::uintptr_t>(dst), bytes))
    return fail(CUDA_ERROR_INVALID_VALUE, std::string(what) + ": the destination is not " +
                                              std::to_string(bytes) + " bytes of one device allocation");
  if (src_device && !device_range(reinterpret_cast<std::uintptr_t>(src), bytes))
    return fail(CUDA_ERROR_INVALID_VALUE, std::string(what) + ": the source is not " + std::to_string(bytes) +
                                              " bytes of one device allocation");
  std::memmove(dst, src, bytes);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, std::size_t n) {
  return copy(reinterpret_cast<void*>(dst), src, n, true, false, "cuMemcpyHtoD");
}
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, std::size_t n) {
  ++rll_emu::counted[rll_emu::kDeviceToHost];
  return copy(dst, reinterpret_cast<const void*>(src), n, false, true, "cuMemcpyDtoH");
}
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, std::size_t n) {
  return copy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), n, true, true, "cuMemcpyDtoD");
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, std::size_t n, CUstream s) {
  if (!known_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
  return cuMemcpyHtoD_v2(dst, src, n);
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, std::size_t n, CUstream s) {
  if (!known_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
  return cuMemcpyDtoH_v2(dst, src, n);
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, std::size_t n, CUstream s) {
  if (!known_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
  return cuMemcpyDtoD_v2(dst, src, n);
}

CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, std::size_t n) {
  if (CUresult r = check_context()) return r;
  if (!device_range(dst, n)) return fail(CUDA_ERROR_INVALID_VALUE, "cuMemsetD8 outside device memory");
  std::memset(reinterpret_cast<void*>(dst), v, n);
  return CUDA_SUCCESS;
}
CUresult cuMemsetD8Async(CUdeviceptr dst, unsigned char v, std::size_t n, CUstream s) {
  if (!known_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
  return cuMemsetD8_v2(dst, v, n);
}

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool* p, CUdevice dev) {
  if (dev != 0) return CUDA_ERROR_INVALID_DEVICE;
  *p = &pool;
  return CUDA_SUCCESS;
}
CUresult cuMemPoolSetAttribute(CUmemoryPool p, int, void*) {
  return p == &pool ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuStreamCreate(CUstream* s, unsigned int) {
  if (CUresult r = check_context()) return r;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  *s = new Stream;
  streams.insert(*s);
  return CUDA_SUCCESS;
}
CUresult cuStreamCreateWithPriority(CUstream* s, unsigned int flags, int) { return cuStreamCreate(s, flags); }
CUresult cuStreamDestroy_v2(CUstream s) {
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  if (streams.erase(s) == 0) return CUDA_ERROR_INVALID_HANDLE;
  delete s;
  return CUDA_SUCCESS;
}
static CUresult stream_ready(CUstream s, const char* what) {
  if (!known_stream(s)) return fail(CUDA_ERROR_INVALID_HANDLE, std::string(what) + ": unknown stream");
  return check_context();
}
CUresult cuStreamSynchronize(CUstream s) {
  ++rll_emu::counted[rll_emu::kSyncs];
  return stream_ready(s, "cuStreamSynchronize");
}
// Neither waits on a GPU: the host goes on (a query returns at once, a wait orders the stream).
CUresult cuStreamQuery(CUstream s) { return stream_ready(s, "cuStreamQuery"); }
CUresult cuStreamWaitEvent(CUstream s, CUevent, unsigned int) { return stream_ready(s, "cuStreamWaitEvent"); }

CUresult cuEventCreate(CUevent* e, unsigned int) {
  if (CUresult r = check_context()) return r;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  *e = new Event;
  events.insert(*e);
  return CUDA_SUCCESS;
}
CUresult cuEventRecord(CUevent e, CUstream s) {
  if (!known_stream(s)) return CUDA_ERROR_INVALID_HANDLE;
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  return events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
static CUresult event_known(CUevent e) {
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  return events.count(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
CUresult cuEventSynchronize(CUevent e) {
  ++rll_emu::counted[rll_emu::kSyncs];
  return event_known(e);
}
CUresult cuEventQuery(CUevent e) { return event_known(e); }
CUresult cuEventDestroy_v2(CUevent e) {
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  if (events.erase(e) == 0) return CUDA_ERROR_INVALID_HANDLE;
  delete e;
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule* module, const void* image) {
  if (CUresult r = check_context()) return r;
  std::string error;
  const auto entries = parse_ptx(static_cast<const char*>(image), error);
  if (!error.empty()) return fail(CUDA_ERROR_INVALID_IMAGE, "cuModuleLoadData: " + error);
  auto m = std::make_unique<Module>();
  for (const auto& [name, e] : entries) {
    auto it = registry().find(name);
    if (it == registry().end() || !it->second.has_plain || !it->second.has_checked)
      return fail(CUDA_ERROR_INVALID_IMAGE, "kernel " + name + " is in the PTX but not compiled for the emulation");
    const Kernel& k = it->second.plain;
    if (k.params.size() != e.param_sizes.size())
      return fail(CUDA_ERROR_INVALID_IMAGE, "kernel " + name + ": the PTX has " +
                                                std::to_string(e.param_sizes.size()) + " parameters, cuda/ " +
                                                std::to_string(k.params.size()) + " (stale PTX?)");
    for (std::size_t i = 0; i < k.params.size(); ++i)
      if (k.params[i].size != e.param_sizes[i])
        return fail(CUDA_ERROR_INVALID_IMAGE, "kernel " + name + ": parameter " + std::to_string(i) + " is " +
                                                  std::to_string(e.param_sizes[i]) + " bytes in the PTX, " +
                                                  std::to_string(k.params[i].size) + " in cuda/ (stale PTX?)");
    m->functions[name] = std::unique_ptr<Function>(new Function{name, e, &k, &it->second.checked});
  }
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  *module = m.release();
  modules.insert(*module);
  return CUDA_SUCCESS;
}

CUresult cuModuleUnload(CUmodule module) {
  std::lock_guard<std::mutex> lock(rll_emu::mutex);
  if (modules.erase(module) == 0) return CUDA_ERROR_INVALID_HANDLE;
  delete module;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction* f, CUmodule module, const char* name) {
  {
    std::lock_guard<std::mutex> lock(rll_emu::mutex);
    if (modules.count(module) == 0) return CUDA_ERROR_INVALID_HANDLE;
  }
  auto it = module->functions.find(name);
  if (it == module->functions.end()) return CUDA_ERROR_NOT_FOUND;
  *f = it->second.get();
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned shared_bytes, CUstream s, void** params, void** extra) {
  if (CUresult r = check_context()) return r;
  if (f == nullptr) return CUDA_ERROR_INVALID_HANDLE;
  if (!known_stream(s)) return fail(CUDA_ERROR_INVALID_HANDLE, f->name + ": launch on an unknown stream");
  const std::string& name = f->name;
  const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  for (int k = 0; k < 3; ++k) {
    if (grid[k] == 0 || grid[k] > kMaxGrid[k])
      return fail(CUDA_ERROR_INVALID_VALUE, name + ": grid (" + std::to_string(gx) + ", " + std::to_string(gy) +
                                                ", " + std::to_string(gz) + ") is out of range");
    if (block[k] == 0 || block[k] > kMaxBlock[k])
      return fail(CUDA_ERROR_INVALID_VALUE, name + ": block (" + std::to_string(bx) + ", " + std::to_string(by) +
                                                ", " + std::to_string(bz) + ") is out of range");
  }
  if (static_cast<unsigned long>(bx) * by * bz > kMaxThreadsPerBlock)
    return fail(CUDA_ERROR_INVALID_VALUE,
                name + ": " + std::to_string(static_cast<unsigned long>(bx) * by * bz) + " threads per block");
  if (f->ptx.shared_bytes + shared_bytes > kMaxSharedPerBlock)
    return fail(CUDA_ERROR_INVALID_VALUE, name + ": " + std::to_string(f->ptx.shared_bytes + shared_bytes) +
                                              " bytes of shared memory per block");
  if (extra != nullptr) return fail(CUDA_ERROR_NOT_SUPPORTED, name + ": `extra` launch parameters");
  const std::size_t count = f->ptx.param_sizes.size();
  if (params == nullptr) return fail(CUDA_ERROR_INVALID_VALUE, name + ": no kernelParams");
  for (std::size_t i = 0; i < count; ++i)
    if (params[i] == nullptr)
      return fail(CUDA_ERROR_INVALID_VALUE, name + ": " + std::to_string(i) + " arguments, the PTX entry has " +
                                                std::to_string(count) + " parameters");
  if (params[count] != nullptr)
    return fail(CUDA_ERROR_INVALID_VALUE,
                name + ": more arguments than the PTX entry's " + std::to_string(count) + " parameters");
  for (std::size_t i = 0; i < count; ++i) {
    if (!f->kernel->params[i].pointer) continue;
    const std::uintptr_t p = *static_cast<const std::uintptr_t*>(params[i]);
    if (p != 0 && !device_pointer(p))
      return fail(CUDA_ERROR_INVALID_VALUE, name + ": argument " + std::to_string(i) + " (a pointer) is " +
                                                std::to_string(p) + ", not in device memory");
  }
  note_launch(name);
  running_kernel = name.c_str();
  const auto t0 = std::chrono::steady_clock::now();
  const std::string error = run_in_every_order(*f, params, dim3{gx, gy, gz}, dim3{bx, by, bz});
  running_kernel = nullptr;
  if (profiling) {
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(rll_emu::mutex);
    auto& p = profile[name];
    ++p.first;
    p.second += dt;
  }
  if (!error.empty()) return fail(CUDA_ERROR_LAUNCH_FAILED, name + ": " + error);
  return CUDA_SUCCESS;
}

// Not a driver entry point: this thread's counts so far, {synchronizations, device-to-host copies, allocations,
// frees} (tests/gpu.rs finds it with dlsym; a real libcuda has no such symbol).
void rll_emu_counts(unsigned long long out[4]) {
  for (int k = 0; k < rll_emu::kCounted; ++k) out[k] = rll_emu::counted[k];
}

CUresult cuGetErrorName(CUresult code, const char** text) {
  switch (code) {
    case CUDA_SUCCESS: *text = "CUDA_SUCCESS"; break;
    case CUDA_ERROR_INVALID_VALUE: *text = "CUDA_ERROR_INVALID_VALUE"; break;
    case CUDA_ERROR_OUT_OF_MEMORY: *text = "CUDA_ERROR_OUT_OF_MEMORY"; break;
    case CUDA_ERROR_NOT_INITIALIZED: *text = "CUDA_ERROR_NOT_INITIALIZED"; break;
    case CUDA_ERROR_INVALID_DEVICE: *text = "CUDA_ERROR_INVALID_DEVICE"; break;
    case CUDA_ERROR_INVALID_IMAGE: *text = "CUDA_ERROR_INVALID_IMAGE"; break;
    case CUDA_ERROR_INVALID_CONTEXT: *text = "CUDA_ERROR_INVALID_CONTEXT"; break;
    case CUDA_ERROR_INVALID_HANDLE: *text = "CUDA_ERROR_INVALID_HANDLE"; break;
    case CUDA_ERROR_NOT_FOUND: *text = "CUDA_ERROR_NOT_FOUND"; break;
    case CUDA_ERROR_LAUNCH_FAILED: *text = "CUDA_ERROR_LAUNCH_FAILED"; break;
    case CUDA_ERROR_NOT_SUPPORTED: *text = "CUDA_ERROR_NOT_SUPPORTED"; break;
    default: *text = nullptr; return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult code, const char** text) {
  // The emulation's own stderr line says more; the name is the string.
  return cuGetErrorName(code, text);
}

}  // extern "C"
