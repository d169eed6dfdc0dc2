// The C ABI's device entry points as a CUDA C++ host uses them: buffers from cudaMalloc, the legacy default stream
// (as Caffe) and a created stream, checked against the CPU entry point on the same inputs. Built and run by
// cuda/gpu_check.sh with nvcc.
#include <cmath>
#include <cstdio>
#include <vector>

#include <cuda_runtime.h>

#include "ranked_list_loss.h"

static int failures = 0, passes = 0;
#define CHECK(cond, ...)                         \
  do {                                           \
    if (cond) {                                  \
      ++passes;                                  \
    } else {                                     \
      ++failures;                                \
      std::fprintf(stderr, "FAIL line %d: ", __LINE__); \
      std::fprintf(stderr, __VA_ARGS__);         \
      std::fprintf(stderr, "\n");                \
    }                                            \
  } while (0)

int main() {
  const int n = 240, d = 64;
  std::vector<float> x(n * d), y(n);
  for (int i = 0; i < n * d; ++i) x[i] = std::sin(0.37f * i) * 0.2f;
  for (int i = 0; i < n; ++i) y[i] = float(i / 4);
  float *dx, *dy, *dg;
  cudaMalloc(&dx, sizeof(float) * n * d);
  cudaMalloc(&dy, sizeof(float) * n);
  cudaMalloc(&dg, sizeof(float) * n * d);
  cudaMemcpy(dx, x.data(), sizeof(float) * n * d, cudaMemcpyHostToDevice);
  cudaMemcpy(dy, y.data(), sizeof(float) * n, cudaMemcpyHostToDevice);
  cudaStream_t created;
  cudaStreamCreate(&created);
  const int semantics[3] = {RLL_PAPER, RLL_OFFICIAL_V2020, RLL_OFFICIAL_V2019};
  for (int s = 0; s < 3; ++s) {
    rll_params p;
    rll_params_default(&p);
    p.semantics = semantics[s];
    float cpu_loss;
    std::vector<float> cpu_grad(n * d), gpu_grad(n * d);
    CHECK(rll_loss_f32(&p, x.data(), y.data(), n, d, 2.0f, &cpu_loss, cpu_grad.data()) == 0, "cpu %s",
          rll_last_error());
    void* streams[2] = {nullptr, (void*)created};
    for (int k = 0; k < 2; ++k) {
      float gpu_loss = -1;
      cudaMemset(dg, 0, sizeof(float) * n * d);
      int rc = rll_loss_gpu_f32(&p, dx, dy, n, d, 2.0f, &gpu_loss, dg, streams[k], 0);
      CHECK(rc == 0, "gpu rc %d: %s", rc, rll_last_error());
      cudaStreamSynchronize((cudaStream_t)streams[k]);
      cudaMemcpy(gpu_grad.data(), dg, sizeof(float) * n * d, cudaMemcpyDeviceToHost);
      CHECK(std::fabs(gpu_loss - cpu_loss) <= 1e-5f * std::fabs(cpu_loss), "semantics %d stream %d: loss %g vs %g",
            s, k, gpu_loss, cpu_loss);
      float scale = 1e-30f, err = 0;
      for (int i = 0; i < n * d; ++i) {
        scale = std::fmax(scale, std::fabs(cpu_grad[i]));
        err = std::fmax(err, std::fabs(cpu_grad[i] - gpu_grad[i]));
      }
      CHECK(err <= 1e-5f * scale, "semantics %d stream %d: gradient error %g of %g", s, k, err, scale);
    }
  }
  rll_params p;
  rll_params_default(&p);
  float loss;
  CHECK(rll_loss_gpu_f32(&p, nullptr, dy, n, d, 1.0f, &loss, dg, nullptr, 0) == RLL_ERR_NULL_POINTER,
        "NULL x is refused");
  CHECK(rll_loss_gpu_f32(&p, dx, dy, n, d, 1.0f, &loss, dg, nullptr, 99) == RLL_ERR_DEVICE, "device 99: %s",
        rll_last_error());
  cudaStreamDestroy(created);
  cudaFree(dx);
  cudaFree(dy);
  cudaFree(dg);
  std::printf("C++ streams: %d passed, %d failed\n", passes, failures);
  return failures != 0;
}
