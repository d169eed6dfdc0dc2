/* The C ABI from C: built against the cdylib and cpp/include/ranked_list_loss.h by `make test-c`.
 * Expected numbers are the published worked example (docs/semantics.md), not values printed by the library. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ranked_list_loss.h"


/* IEEE binary16 and bfloat16 patterns of v, which must be exact in the format (a normal number with few
 * significant bits, as the test values are). */
static uint16_t f16_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  if (v == 0.0f) return (uint16_t)(b >> 16);
  return (uint16_t)(((b >> 16) & 0x8000) | ((((b >> 23) & 0xff) - 112) << 10) | ((b >> 13) & 0x3ff));
}
static uint16_t bf16_bits(float v) {
  uint32_t b;
  memcpy(&b, &v, 4);
  return (uint16_t)(b >> 16);
}
static float bf16_value(uint16_t h) {
  uint32_t b = (uint32_t)h << 16;
  float v;
  memcpy(&v, &b, 4);
  return v;
}

static void worked_example(double *x) {
  const double deg[4] = {0, 60, 30, 150};
  for (int i = 0; i < 4; ++i) {
    x[2 * i] = cos(deg[i] * M_PI / 180.0);
    x[2 * i + 1] = sin(deg[i] * M_PI / 180.0);
  }
}

int main(void) {
  rll_params p;
  memset(&p, 0xff, sizeof p);
  rll_params_default(&p);
  CHECK(p.margin == 0.4f && p.alpha == 1.2f && p.t_n == 10.0f && p.t_p == 0.0f && p.lambda == 1.0f,
        "defaults: m %g alpha %g t_n %g t_p %g lambda %g", p.margin, p.alpha, p.t_n, p.t_p, p.lambda);
  CHECK(p.semantics == RLL_PAPER && p.query_only == 0 && p.detach_weights == 0, "default flags");

  double x[8], labels[4] = {0, 0, 1, 1}, grad[8], loss = -1;
  worked_example(x);
  p.semantics = RLL_OFFICIAL_V2020;
  int rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &loss, grad);
  CHECK(rc == 0, "rll_loss_f64 returned %d: %s", rc, rll_last_error());
  const double v2020[8] = {0.030147619, 0.012487429, 0.025888240, 0.019864889,
                           0.193858614, -0.032334741, -0.000135825, 0.0};
  for (int k = 0; k < 8; ++k) CHECK(fabs(grad[k] - v2020[k]) < 8e-10, "V2020 grad[%d] = %.12f", k, grad[k]);
  CHECK(fabs(loss - 0.306659043) < 1e-8, "V2020 value %.12f", loss);

  p.semantics = RLL_OFFICIAL_V2019;
  rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &loss, grad);
  const double v2019[8] = {0.045753175, -0.045753174, -0.016746824, 0.062499999,
                           0.403786850, -0.016737726, -0.000235256, 0.0};
  CHECK(rc == 0, "V2019 rc %d", rc);
  for (int k = 0; k < 8; ++k) CHECK(fabs(grad[k] - v2019[k]) < 8e-10, "V2019 grad[%d] = %.12f", k, grad[k]);

  /* float, with a loss weight: the gradient scales, the value does not. */
  float xf[8], lf[4] = {0, 0, 1, 1}, gf[8], lossf = -1;
  for (int k = 0; k < 8; ++k) xf[k] = (float)x[k];
  p.semantics = RLL_OFFICIAL_V2020;
  rc = rll_loss_f32(&p, xf, lf, 4, 2, 0.5f, &lossf, gf);
  CHECK(rc == 0, "rll_loss_f32 rc %d", rc);
  for (int k = 0; k < 8; ++k) CHECK(fabsf(gf[k] - 0.5f * (float)v2020[k]) < 2e-6f, "f32 grad[%d] = %g", k, gf[k]);
  CHECK(fabsf(lossf - 0.306659043f) < 2e-6f, "f32 value %g", lossf);

  /* PAPER on the same batch, loss only (grad NULL): beta_P = 0.8, beta_N = 1.2.
   * Row 0: P* = {1} (h = 0.2), N* = {2} (h = 1.2 - d02); row 1 the same; row 2: P* = {3} (h = 0.932),
   * N* = {0, 1} (equal h); row 3: P* = {2}, N* empty. */
  p.semantics = RLL_PAPER;
  rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &loss, NULL);
  const double d02 = sqrt(2 - 2 * cos(M_PI / 6)), d23 = sqrt(3.0);
  const double expected = (2 * (0.2 + (1.2 - d02)) + 2 * (d23 - 0.8) + (1.2 - d02)) / 4;
  CHECK(rc == 0 && fabs(loss - expected) < 1e-6, "PAPER loss %.9f, expected %.9f", loss, expected);

  /* The batch split into query rows {0, 1} and {2, 3}, as two processes would compute it: the ln masses of each
   * part, gathered, then each part's value and gradient; their sums are the worked example's numbers above. */
  for (int v = 0; v < 2; ++v) {
    p.semantics = v == 0 ? RLL_OFFICIAL_V2020 : RLL_PAPER;
    double ln_mass[4], part[8], sum[8] = {0}, value = 0, part_value = -1;
    for (int s = 0; s < 4 && v == 0; s += 2) {
      rc = rll_query_ln_mass_f64(&p, x, labels, 4, 2, s, 2, ln_mass + s);
      CHECK(rc == 0, "rll_query_ln_mass_f64 rc %d: %s", rc, rll_last_error());
    }
    for (int s = 0; s < 4; s += 2) {
      rc = rll_loss_queries_f64(&p, x, labels, 4, 2, s, 2, v == 0 ? ln_mass : NULL, 1.0, &part_value, part);
      CHECK(rc == 0, "rll_loss_queries_f64 rc %d: %s", rc, rll_last_error());
      value += part_value;
      for (int k = 0; k < 8; ++k) sum[k] += part[k];
    }
    if (v == 0) {
      for (int k = 0; k < 8; ++k) CHECK(fabs(sum[k] - v2020[k]) < 8e-10, "split V2020 grad[%d] = %.12f", k, sum[k]);
      CHECK(fabs(value - 0.306659043) < 1e-8, "split V2020 value %.12f", value);
    } else {
      CHECK(fabs(value - expected) < 1e-6, "split PAPER loss %.9f, expected %.9f", value, expected);
    }
  }
  double masses[4];
  rc = rll_loss_queries_f64(&p, x, labels, 4, 2, -1, 2, NULL, 1.0, &loss, grad);
  CHECK(rc == RLL_ERR_SIZE && strstr(rll_last_error(), "start = -1"), "negative start: %d %s", rc, rll_last_error());
  p.semantics = RLL_OFFICIAL_V2019;
  rc = rll_loss_queries_f64(&p, x, labels, 4, 2, 0, 2, NULL, 1.0, &loss, grad);
  CHECK(rc == RLL_ERR_PARAMETER && strstr(rll_last_error(), "ln_mass is NULL"), "no ln_mass: %d %s", rc,
        rll_last_error());
  rc = rll_query_ln_mass_f64(&p, x, labels, 4, 2, 3, 2, masses);
  CHECK(rc == RLL_ERR_SIZE && strstr(rll_last_error(), "n = 4"), "rows past n: %d %s", rc, rll_last_error());
  p.semantics = RLL_PAPER;

  /* Errors: nonzero code, a message, nothing written. */
  double sentinel = 42.0;
  rc = rll_loss_f64(&p, NULL, labels, 4, 2, 1.0, &sentinel, grad);
  CHECK(rc == RLL_ERR_NULL_POINTER && strcmp(rll_last_error(), "x is NULL") == 0, "NULL x: %d %s", rc,
        rll_last_error());
  x[3] = NAN;
  rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &sentinel, grad);
  CHECK(rc == RLL_ERR_NON_FINITE && strstr(rll_last_error(), "x[1][1] = NaN"), "NaN: %d %s", rc, rll_last_error());
  CHECK(sentinel == 42.0, "loss written on error");
  p.semantics = 9;
  worked_example(x);
  rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &sentinel, grad);
  CHECK(rc == RLL_ERR_PARAMETER && strstr(rll_last_error(), "semantics = 9"), "semantics: %s", rll_last_error());
  rll_params_default(&p);
  p.alpha = 0;
  rc = rll_loss_f64(&p, x, labels, 4, 2, 1.0, &sentinel, grad);
  CHECK(rc == RLL_ERR_PARAMETER && strstr(rll_last_error(), "alpha = 0"), "alpha: %s", rll_last_error());
  CHECK(rll_set_num_threads(1) == 0, "set threads");

  /* Half precision: inputs exact in both formats (multiples of 1/64), a negative at distance 1/32, T_n = 100 (its
   * weight e^{100 (1.2 - 1/32)} overflows float16 and float32 alike when not shifted): the loss is float32's on the
   * same values, the gradient float32's rounded (bfloat16: compared after widening; float16: not NaN or inf). */
  {
    enum { HN = 6, HD = 4 };
    float xs[HN * HD], ls[HN] = {0, 0, 1, 1, 2, 2}, g32[HN * HD], l32;
    uint16_t xh[HN * HD], lh[HN], xb[HN * HD], lb[HN], gh[HN * HD], gb[HN * HD];
    for (int k = 0; k < HN * HD; ++k) xs[k] = (float)((k * 37) % 50 - 25) / 64.0f;
    for (int k = 0; k < HD; ++k) xs[2 * HD + k] = xs[k] + (k == 0 ? 1.0f / 32.0f : 0.0f); /* class 1 near row 0 */
    for (int k = 0; k < HN * HD; ++k) xh[k] = f16_bits(xs[k]), xb[k] = bf16_bits(xs[k]);
    for (int i = 0; i < HN; ++i) lh[i] = f16_bits(ls[i]), lb[i] = bf16_bits(ls[i]);
    rll_params_default(&p);
    p.t_n = 100.0f;
    rc = rll_loss_f32(&p, xs, ls, HN, HD, 1.0f, &l32, g32);
    CHECK(rc == RLL_OK && isfinite(l32), "float32 at T_n 100: %d %s", rc, rll_last_error());
    float lf16 = -1, lbf16 = -1;
    rc = rll_loss_f16(&p, xh, lh, HN, HD, 1.0f, &lf16, gh);
    CHECK(rc == RLL_OK && lf16 == l32, "float16: %d %s, loss %g vs %g", rc, rll_last_error(), lf16, l32);
    int finite = 1;
    for (int k = 0; k < HN * HD; ++k) finite &= (gh[k] & 0x7c00) != 0x7c00;
    CHECK(finite, "float16 gradient finite");
    rc = rll_loss_bf16(&p, xb, lb, HN, HD, 1.0f, &lbf16, gb);
    CHECK(rc == RLL_OK && lbf16 == l32, "bfloat16: %d %s, loss %g vs %g", rc, rll_last_error(), lbf16, l32);
    double worst = 0, scale = 1e-30;
    for (int k = 0; k < HN * HD; ++k) {
      worst = fmax(worst, fabs(bf16_value(gb[k]) - g32[k]));
      scale = fmax(scale, fabs(g32[k]));
    }
    CHECK(worst <= scale / 128, "bfloat16 gradient within its rounding: %g of %g", worst, scale);
    xh[5] = 0x7e00; /* NaN */
    rc = rll_loss_f16(&p, xh, lh, HN, HD, 1.0f, &lf16, NULL);
    CHECK(rc == RLL_ERR_NON_FINITE && strstr(rll_last_error(), "x[1][1]"), "float16 NaN: %s", rll_last_error());
    rc = rll_loss_bf16(&p, NULL, lb, HN, HD, 1.0f, &lbf16, NULL);
    CHECK(rc == RLL_ERR_NULL_POINTER, "bfloat16 NULL x: %d", rc);
    rc = rll_loss_gpu_f16(&p, xh, lh, HN, HD, 1.0f, &lf16, gh, NULL, 0);
    CHECK(rc == RLL_ERR_DEVICE, "float16 device entry without CUDA: %d", rc);
  }

  /* This library is built without the cuda feature (make test-c): the device entry says so, and writes nothing. */
  float fl = 42.0f;
  rll_params_default(&p);
  rc = rll_loss_gpu_f32(&p, xf, lf, 4, 2, 1.0f, &fl, gf, NULL, 0);
  CHECK(rc == RLL_ERR_DEVICE && strstr(rll_last_error(), "without the cuda feature") && fl == 42.0f,
        "gpu entry without CUDA: %d %s", rc, rll_last_error());

  printf("C ABI: %d passed, %d failed\n", passes, failures);
  return failures != 0;
}
