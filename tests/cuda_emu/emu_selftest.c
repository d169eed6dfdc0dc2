/* The kernel emulation's own checks (tests/cuda_emu/driver.cpp): what a real device refuses is refused here too,
 * and the argument checks and the guard pages catch what they are there to catch. Driver API calls only, on the
 * committed PTX of cuda/normalize.cu (rll_l2_forward_f32: x, n, d, y, norms; grid n, block 256). */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef unsigned long long CUdeviceptr;
int cuInit(unsigned int flags);
int cuDevicePrimaryCtxRetain(void **ctx, int dev);
int cuCtxSetCurrent(void *ctx);
int cuMemAlloc_v2(CUdeviceptr *p, size_t bytes);
int cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes);
int cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes);
int cuModuleLoadData(void **module, const void *image);
int cuModuleGetFunction(void **f, void *module, const char *name);
int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                   unsigned shared, void *stream, void **params, void **extra);
enum { OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, INVALID_IMAGE = 200, LAUNCH_FAILED = 719 };

static int passed = 0, failed = 0;
static void expect(int got, int want, const char *what) {
  if (got == want) {
    ++passed;
  } else {
    ++failed;
    fprintf(stderr, "FAILED: %s: got %d, want %d\n", what, got, want);
  }
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)len + 1);
  if (fread(s, 1, (size_t)len, f) != (size_t)len) exit(2);
  s[len] = 0;
  fclose(f);
  return s;
}

enum { N = 3, D = 5 };

/* The kernels of planted_faults.cu, declared as NVRTC would (one pointer parameter; bar.sync where they have a
 * __syncthreads()). */
static const char planted_ptx[] =
    ".version 8.0\n.target sm_70\n.address_size 64\n"
    ".visible .entry emu_fault_none(.param .u64 emu_fault_none_param_0)\n{\n bar.sync 0;\n ret;\n}\n"
    ".visible .entry emu_fault_missing_barrier(.param .u64 emu_fault_missing_barrier_param_0)\n{\n ret;\n}\n"
    ".visible .entry emu_fault_write_write(.param .u64 emu_fault_write_write_param_0)\n{\n bar.sync 0;\n ret;\n}\n"
    ".visible .entry emu_fault_unwritten(.param .u64 emu_fault_unwritten_param_0)\n{\n bar.sync 0;\n ret;\n}\n"
    ".visible .entry emu_fault_global_order(.param .u64 emu_fault_global_order_param_0)\n{\n ret;\n}\n";

/* Launches one planted kernel on `blocks` blocks of 256 threads. */
static int launch_planted(void *module, const char *name, unsigned blocks, CUdeviceptr out) {
  void *k;
  if (cuModuleGetFunction(&k, module, name) != OK) return -1;
  void *args[] = {&out, NULL};
  return cuLaunchKernel(k, blocks, 1, 1, 256, 1, 1, 0, NULL, args, NULL);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: emu_selftest cuda/ptx/normalize.ptx\n");
    return 2;
  }
  void *ctx, *module, *f;
  char *ptx = read_file(argv[1]);
  cuInit(0);
  cuDevicePrimaryCtxRetain(&ctx, 0);
  cuCtxSetCurrent(ctx);
  expect(cuModuleLoadData(&module, ptx), OK, "load the PTX");
  expect(cuModuleGetFunction(&f, module, "rll_l2_forward_f32"), OK, "find rll_l2_forward_f32");
  float x[N * D], y[N * D], norms[N];
  for (int k = 0; k < N * D; ++k) x[k] = (float)(k % 4) - 1.0f;
  CUdeviceptr xd, yd, nd;
  cuMemAlloc_v2(&xd, sizeof x);
  cuMemAlloc_v2(&yd, sizeof y);
  cuMemAlloc_v2(&nd, sizeof norms);
  cuMemcpyHtoD_v2(xd, x, sizeof x);
  long n = N, d = D;
  void *args[] = {&xd, &n, &d, &yd, &nd, NULL, NULL};
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 0, NULL, args, NULL), OK, "a correct launch");
  cuMemcpyDtoH_v2(norms, nd, sizeof norms);
  expect(norms[1] > 0.0f, 1, "the kernel ran (a norm written)");

  /* Argument lists: count (the NULL after the last one), pointers into device memory. */
  void *extra[] = {&xd, &n, &d, &yd, &nd, &n, NULL};
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 0, NULL, extra, NULL), INVALID_VALUE, "one argument too many");
  void *short_list[] = {&xd, &n, &d, &yd, NULL};
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 0, NULL, short_list, NULL), INVALID_VALUE, "one argument short");
  void *swapped[] = {&n, &xd, &d, &yd, &nd, NULL};
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 0, NULL, swapped, NULL), INVALID_VALUE, "an integer for a pointer");
  CUdeviceptr host = (CUdeviceptr)(uintptr_t)x;
  void *host_ptr[] = {&host, &n, &d, &yd, &nd, NULL};
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 0, NULL, host_ptr, NULL), INVALID_VALUE, "host memory as a pointer");

  /* What a device refuses. */
  expect(cuLaunchKernel(f, 0, 1, 1, 256, 1, 1, 0, NULL, args, NULL), INVALID_VALUE, "a zero grid");
  expect(cuLaunchKernel(f, N, 1, 1, 1025, 1, 1, 0, NULL, args, NULL), INVALID_VALUE, "1025 threads per block");
  expect(cuLaunchKernel(f, N, 1, 1, 256, 1, 1, 48 * 1024, NULL, args, NULL), INVALID_VALUE,
         "48 KiB of dynamic shared memory on top of the kernel's own");
  CUdeviceptr huge;
  expect(cuMemAlloc_v2(&huge, (size_t)1 << 40), OUT_OF_MEMORY, "a 1 TiB allocation");

  /* A PTX whose parameter list differs from the compiled kernel's (stale PTX). */
  char *stale = strdup(ptx);
  char *p = strstr(stale, ".param .u64 rll_l2_forward_f32_param_1");
  if (p) memcpy(p, ".param .u32", 11);
  void *m2;
  expect(p != NULL && cuModuleLoadData(&m2, stale) == INVALID_IMAGE, 1, "a stale PTX parameter list");

  /* Scheduling faults (planted_faults.cu): the race check and the runs in several orders find each. */
  void *planted;
  expect(cuModuleLoadData(&planted, planted_ptx), OK, "load the planted kernels");
  CUdeviceptr outd;
  cuMemAlloc_v2(&outd, 256 * sizeof(float));
  expect(launch_planted(planted, "emu_fault_none", 2, outd), OK, "a barrier between write and read: no race");
  float out[256];
  cuMemcpyDtoH_v2(out, outd, sizeof out);
  expect(out[0] == 255.0f && out[255] == 0.0f, 1, "the race-free kernel's values");
  expect(launch_planted(planted, "emu_fault_missing_barrier", 2, outd), LAUNCH_FAILED, "a missing __syncthreads()");
  expect(launch_planted(planted, "emu_fault_write_write", 1, outd), LAUNCH_FAILED,
         "256 threads writing one shared slot in one interval");
  expect(launch_planted(planted, "emu_fault_unwritten", 1, outd), LAUNCH_FAILED,
         "a read of shared memory that no thread of the block wrote");
  expect(launch_planted(planted, "emu_fault_global_order", 2, outd), LAUNCH_FAILED,
         "a global-memory result that depends on the order of threads and blocks");

  /* Out of bounds: a row count past the allocation faults in the guard page and the process aborts. */
  fflush(stderr);
  pid_t child = fork();
  if (child == 0) {
    long too_many = N + 1;
    void *oob[] = {&xd, &too_many, &d, &yd, &nd, NULL};
    cuLaunchKernel(f, N + 1, 1, 1, 256, 1, 1, 0, NULL, oob, NULL);
    _exit(0); /* not reached when the guard page works */
  }
  int status = 0;
  waitpid(child, &status, 0);
  expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, 1, "an out-of-bounds read aborts");

  printf("emu_selftest: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
