/* The C ABI's device entry points (rll_loss_gpu_f32/f64) from C, against its host entry points on the same
 * batch: device memory from the CUDA driver API (libcuda: a GPU's, or the kernel emulation's in `make
 * test-cuda-emu`), every semantics, a gradient and the error paths (non-finite input found on the device, NULL, a
 * bad device, out of device memory as RLL_ERR_SIZE). Links libranked_list_loss_cuda.so. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ranked_list_loss.h"

/* The driver API calls used here (cuda.h is not needed for five functions). */
typedef unsigned long long CUdeviceptr;
int cuInit(unsigned int flags);
int cuDevicePrimaryCtxRetain(void **ctx, int dev);
int cuCtxSetCurrent(void *ctx);
int cuMemAlloc_v2(CUdeviceptr *p, size_t bytes);
int cuMemFree_v2(CUdeviceptr p);
int cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t bytes);
int cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t bytes);

#define CU(call)                                                    \
  do {                                                              \
    int rc_ = (call);                                               \
    if (rc_ != 0) {                                                 \
      fprintf(stderr, "%s failed: %d\n", #call, rc_);               \
      exit(2);                                                      \
    }                                                               \
  } while (0)

static CUdeviceptr upload(const void *host, size_t bytes) {
  CUdeviceptr p;
  CU(cuMemAlloc_v2(&p, bytes));
  CU(cuMemcpyHtoD_v2(p, host, bytes));
  return p;
}

enum { N = 24, D = 5 };

static double rel(const double *a, const double *b, int count) {
  double scale = 1e-30, worst = 0;
  for (int k = 0; k < count; ++k) scale = fmax(scale, fabs(b[k]));
  for (int k = 0; k < count; ++k) worst = fmax(worst, fabs(a[k] - b[k]));
  return worst / scale;
}

int main(void) {
  void *ctx;
  CU(cuInit(0));
  CU(cuDevicePrimaryCtxRetain(&ctx, 0));
  CU(cuCtxSetCurrent(ctx));
  double x[N * D], labels[N];
  float xf[N * D], lf[N];
  for (int i = 0; i < N; ++i) {
    labels[i] = i % 4;
    lf[i] = (float)labels[i];
    for (int k = 0; k < D; ++k) {
      x[i * D + k] = sin(1.0 + 0.37 * i + 1.9 * k) + 0.1 * (i % 4) * k;
      xf[i * D + k] = (float)x[i * D + k];
    }
  }
  const CUdeviceptr xd = upload(x, sizeof x), ld = upload(labels, sizeof labels);
  const CUdeviceptr xfd = upload(xf, sizeof xf), lfd = upload(lf, sizeof lf);
  CUdeviceptr gd, gfd;
  CU(cuMemAlloc_v2(&gd, sizeof x));
  CU(cuMemAlloc_v2(&gfd, sizeof xf));
  for (int sem = RLL_PAPER; sem <= RLL_OFFICIAL_V2019; ++sem) {
    rll_params p;
    rll_params_default(&p);
    p.semantics = sem;
    double loss_c, loss_g, grad_c[N * D], grad_g[N * D];
    int rc = rll_loss_f64(&p, x, labels, N, D, 0.5, &loss_c, grad_c);
    CHECK(rc == RLL_OK, "rll_loss_f64: %s", rll_last_error());
    rc = rll_loss_gpu_f64(&p, (const double *)(uintptr_t)xd, (const double *)(uintptr_t)ld, N, D, 0.5, &loss_g,
                          (double *)(uintptr_t)gd, NULL, 0);
    CHECK(rc == RLL_OK, "rll_loss_gpu_f64: %s", rll_last_error());
    CU(cuMemcpyDtoH_v2(grad_g, gd, sizeof grad_g));
    CHECK(fabs(loss_g - loss_c) <= 1e-12 * fabs(loss_c), "semantics %d f64: loss %.17g vs %.17g", sem, loss_g,
          loss_c);
    CHECK(rel(grad_g, grad_c, N * D) < 1e-12, "semantics %d f64: gradient %g", sem, rel(grad_g, grad_c, N * D));

    float lossf_c, lossf_g, gf_c[N * D], gf_g[N * D];
    rc = rll_loss_f32(&p, xf, lf, N, D, 1.0f, &lossf_c, gf_c);
    CHECK(rc == RLL_OK, "rll_loss_f32: %s", rll_last_error());
    rc = rll_loss_gpu_f32(&p, (const float *)(uintptr_t)xfd, (const float *)(uintptr_t)lfd, N, D, 1.0f, &lossf_g,
                          (float *)(uintptr_t)gfd, NULL, 0);
    CHECK(rc == RLL_OK, "rll_loss_gpu_f32: %s", rll_last_error());
    CU(cuMemcpyDtoH_v2(gf_g, gfd, sizeof gf_g));
    double a[N * D], b[N * D];
    for (int k = 0; k < N * D; ++k) {
      a[k] = gf_g[k];
      b[k] = gf_c[k];
    }
    CHECK(fabsf(lossf_g - lossf_c) <= 1e-5f * fabsf(lossf_c), "semantics %d f32: loss %.9g vs %.9g", sem, lossf_g,
          lossf_c);
    CHECK(rel(a, b, N * D) < 1e-5, "semantics %d f32: gradient %g", sem, rel(a, b, N * D));
  }
  /* Half precision on the device against the host's half entry points (features and labels as 16-bit patterns:
   * bfloat16 is float32's high half, so both formats are made from float32 values exact in them). */
  {
    uint16_t xb[N * D], lb[N], gb_c[N * D], gb_g[N * D];
    for (int k = 0; k < N * D; ++k) {
      const float v = roundf(xf[k] * 64.0f) / 64.0f;
      uint32_t b;
      memcpy(&b, &v, 4);
      xb[k] = (uint16_t)(b >> 16);
    }
    for (int i = 0; i < N; ++i) {
      uint32_t b;
      memcpy(&b, &lf[i], 4);
      lb[i] = (uint16_t)(b >> 16);
    }
    const CUdeviceptr xbd = upload(xb, sizeof xb), lbd = upload(lb, sizeof lb);
    CUdeviceptr gbd;
    CU(cuMemAlloc_v2(&gbd, sizeof gb_g));
    for (int sem = RLL_PAPER; sem <= RLL_OFFICIAL_V2019; ++sem) {
      rll_params p;
      rll_params_default(&p);
      p.semantics = sem;
      p.t_n = 100.0f;
      float lc, lg;
      int rc = rll_loss_bf16(&p, xb, lb, N, D, 1.0f, &lc, gb_c);
      CHECK(rc == RLL_OK, "rll_loss_bf16: %s", rll_last_error());
      rc = rll_loss_gpu_bf16(&p, (const uint16_t *)(uintptr_t)xbd, (const uint16_t *)(uintptr_t)lbd, N, D, 1.0f, &lg,
                             (uint16_t *)(uintptr_t)gbd, NULL, 0);
      CHECK(rc == RLL_OK, "rll_loss_gpu_bf16: %s", rll_last_error());
      CU(cuMemcpyDtoH_v2(gb_g, gbd, sizeof gb_g));
      CHECK(isfinite(lg) && fabsf(lg - lc) <= 1e-5f * fabsf(lc), "semantics %d bf16: loss %.9g vs %.9g", sem, lg, lc);
      int far = 0;
      for (int k = 0; k < N * D; ++k) far += abs((int)(int16_t)gb_g[k] - (int)(int16_t)gb_c[k]) > 2;
      CHECK(far == 0, "semantics %d bf16: %d gradient values more than 2 units in the last place apart", sem, far);
    }
    CU(cuMemFree_v2(xbd));
    CU(cuMemFree_v2(lbd));
    CU(cuMemFree_v2(gbd));
  }

  /* A non-finite feature found on the device, and a NULL pointer: codes and messages, nothing written. */
  double bad[N * D];
  memcpy(bad, x, sizeof bad);
  bad[7 * D + 2] = NAN;
  const CUdeviceptr bd = upload(bad, sizeof bad);
  rll_params p;
  rll_params_default(&p);
  double loss = 123.0;
  int rc = rll_loss_gpu_f64(&p, (const double *)(uintptr_t)bd, (const double *)(uintptr_t)ld, N, D, 1.0, &loss,
                            NULL, NULL, 0);
  CHECK(rc == RLL_ERR_NON_FINITE && strstr(rll_last_error(), "x[7][2]") != NULL && loss == 123.0,
        "NaN on the device: %d %s", rc, rll_last_error());
  rc = rll_loss_gpu_f64(&p, NULL, (const double *)(uintptr_t)ld, N, D, 1.0, &loss, NULL, NULL, 0);
  CHECK(rc == RLL_ERR_NULL_POINTER, "NULL x: %d %s", rc, rll_last_error());
  rc = rll_loss_gpu_f64(&p, (const double *)(uintptr_t)xd, (const double *)(uintptr_t)ld, N, D, 1.0, &loss, NULL,
                        NULL, 9);
  CHECK(rc == RLL_ERR_DEVICE, "device 9: %d %s", rc, rll_last_error());
  /* Out of device memory: 2^18 rows need N x N matrices of 256 GiB, more than any device (or the emulation) has. */
  {
    const int64_t big = (int64_t)1 << 18;
    float *ones = malloc((size_t)big * sizeof(float));
    for (int64_t i = 0; i < big; ++i) ones[i] = (float)(i % 5);
    const CUdeviceptr bx = upload(ones, (size_t)big * sizeof(float));
    float lossf = 7.0f;
    rc = rll_loss_gpu_f32(&p, (const float *)(uintptr_t)bx, (const float *)(uintptr_t)bx, big, 1, 1.0f, &lossf,
                          NULL, NULL, 0);
    CHECK(rc == RLL_ERR_SIZE && strstr(rll_last_error(), "device memory") != NULL && lossf == 7.0f,
          "out of device memory: %d %s", rc, rll_last_error());
    CU(cuMemFree_v2(bx));
    free(ones);
  }
  CU(cuMemFree_v2(xd));
  CU(cuMemFree_v2(ld));
  CU(cuMemFree_v2(xfd));
  CU(cuMemFree_v2(lfd));
  CU(cuMemFree_v2(gd));
  CU(cuMemFree_v2(gfd));
  CU(cuMemFree_v2(bd));
  printf("gpu_abi_test: %d passed, %d failed\n", passes, failures);
  return failures != 0;
}
