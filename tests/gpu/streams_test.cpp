// The C ABI's device entry points as a CUDA C++ host uses them: buffers from cudaMalloc, the legacy default stream
// (as Caffe) and a created stream, checked against the CPU entry point on the same inputs. Built and run by
// tests/gpu/engine_check.sh with nvcc.
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
  // Rows on the unit sphere, as embeddings after the Normalization layer (pseudo-random, reproducible).
  std::vector<float> x(n * d), y(n);
  std::vector<double> x64(n * d), y64(n);
  unsigned state = 12345;
  for (int i = 0; i < n * d; ++i) {
    state = state * 1664525u + 1013904223u;
    x[i] = float(state >> 8) / float(1 << 24) - 0.5f;
  }
  for (int i = 0; i < n; ++i) {
    float norm = 0;
    for (int k = 0; k < d; ++k) norm += x[i * d + k] * x[i * d + k];
    for (int k = 0; k < d; ++k) x[i * d + k] /= std::sqrt(norm) * 1.6f;  // radius 0.625: most negatives active
    y[i] = float(i / 4);
  }
  for (int i = 0; i < n * d; ++i) x64[i] = x[i];
  for (int i = 0; i < n; ++i) y64[i] = y[i];
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
    double ref_loss;
    std::vector<float> cpu_grad(n * d), gpu_grad(n * d);
    std::vector<double> ref_grad(n * d);
    CHECK(rll_loss_f32(&p, x.data(), y.data(), n, d, 2.0f, &cpu_loss, cpu_grad.data()) == 0, "cpu %s",
          rll_last_error());
    CHECK(rll_loss_f64(&p, x64.data(), y64.data(), n, d, 2.0, &ref_loss, ref_grad.data()) == 0, "f64 %s",
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
      // As accurate as the CPU path: both against the f64 result, and within 1e-5 of each other.
      double scale = 1e-30, err_gpu = 0, err_cpu = 0, diff = 0;
      for (int i = 0; i < n * d; ++i) {
        scale = std::fmax(scale, std::fabs(ref_grad[i]));
        err_gpu = std::fmax(err_gpu, std::fabs(gpu_grad[i] - ref_grad[i]));
        err_cpu = std::fmax(err_cpu, std::fabs(cpu_grad[i] - ref_grad[i]));
        diff = std::fmax(diff, std::fabs(gpu_grad[i] - cpu_grad[i]));
      }
      CHECK(diff <= 1e-5 * scale, "semantics %d stream %d: GPU-CPU gradient difference %g of %g", s, k, diff, scale);
      CHECK(err_gpu <= 2 * err_cpu + 1e-6 * scale, "semantics %d stream %d: GPU error %g, CPU error %g", s, k,
            err_gpu, err_cpu);
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
