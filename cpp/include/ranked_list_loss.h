/* Ranked List Loss (Wang et al., CVPR 2019): the C ABI of the Rust library
 * `ranked_list_loss`.
 *
 * Link with libranked_list_loss.so (or .a with -lpthread -ldl -lm). Every
 * function checks its pointers and sizes and never aborts: failure is a nonzero
 * return (an rll_error code) with a message from rll_last_error(), and then
 * nothing has been written. Formulas: docs/semantics.md.
 *
 * BSD-3-Clause. */
/* The guard keeps the header's own name wherever it is copied (Caffe's lint
 * would name it after the path). */
#ifndef RANKED_LIST_LOSS_H_  // NOLINT(build/header_guard)
#define RANKED_LIST_LOSS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  RLL_PAPER = 0,
  RLL_OFFICIAL_V2020 = 1,
  RLL_OFFICIAL_V2019 = 2
} rll_semantics;

/* Return codes. */
typedef enum {
  RLL_OK = 0,
  RLL_ERR_NULL_POINTER = 1,
  RLL_ERR_SIZE = 2,
  RLL_ERR_NON_FINITE = 3,
  RLL_ERR_PARAMETER = 4,
  RLL_ERR_DECODE = 5,
  RLL_ERR_INTERNAL = 6,
  RLL_ERR_DEVICE = 7
} rll_error;

/* alpha: V2019's `margin`, V2020's `negative_threshold` (loss value only). */
typedef struct {
  float margin, alpha, t_n, t_p, base_n, base_p, lambda;
  int32_t semantics, query_only, detach_weights;
} rll_params;

/* The proto defaults: margin 0.4, alpha 1.2, t_n 10, t_p 0, bases 2.71828,
 * lambda 1, RLL_PAPER, flags 0. */
void rll_params_default(rll_params *p);

/* Loss of n samples of d features (row-major) with n labels (compared with ==).
 * *loss receives the loss (PAPER) or the reported value (OFFICIAL_*); grad, if
 * not NULL, receives loss_weight * dE/dx (n*d values). */
int rll_loss_f32(const rll_params *p, const float *x, const float *labels,
                 int64_t n, int64_t d, float loss_weight, float *loss,
                 float *grad /* n*d values, may be NULL */);
int rll_loss_f64(const rll_params *p, const double *x, const double *labels,
                 int64_t n, int64_t d, double loss_weight, double *loss,
                 double *grad /* n*d values, may be NULL */);

/* A part of a batch's queries (docs/distributed.md): the loss terms and the
 * gradient that query rows start..start+count contribute against all n rows.
 * Over a partition of the queries, the parts add up to rll_loss_f32's value
 * and gradient. grad (n*d values, may be NULL) covers every row. OFFICIAL_*:
 * ln_mass holds every row's ln(S+ + S-) (n values, from rll_query_ln_mass_*
 * over the parts), or is NULL when the queries are the whole batch; PAPER:
 * NULL. */
int rll_loss_queries_f32(const rll_params *p, const float *x,
                         const float *labels, int64_t n, int64_t d,
                         int64_t start, int64_t count, const double *ln_mass,
                         float loss_weight, float *loss, float *grad);
int rll_loss_queries_f64(const rll_params *p, const double *x,
                         const double *labels, int64_t n, int64_t d,
                         int64_t start, int64_t count, const double *ln_mass,
                         double loss_weight, double *loss, double *grad);
/* OFFICIAL_*: ln(S+_i + S-_i) of query rows start..start+count into ln_mass
 * (count values). */
int rll_query_ln_mass_f32(const rll_params *p, const float *x,
                          const float *labels, int64_t n, int64_t d,
                          int64_t start, int64_t count, double *ln_mass);
int rll_query_ln_mass_f64(const rll_params *p, const double *x,
                          const double *labels, int64_t n, int64_t d,
                          int64_t start, int64_t count, double *ln_mass);

/* Queries against references (a cross-batch memory, say), PAPER semantics:
 * each of the n queries (x, labels) ranked against the n_ref references
 * (ref_x, ref_labels), leaving out reference own[i], its own copy (own: n
 * values, -1 for none; NULL: none at all). *loss receives E = (1/n) sum_i
 * [L_P(i) + lambda L_N(i)], grad (n*d, may be NULL) loss_weight * dE/dx and
 * ref_grad (n_ref*d, may be NULL) loss_weight * dE/dref_x. */
int rll_loss_references_f32(const rll_params *p, const float *x,
                            const float *labels, int64_t n, const float *ref_x,
                            const float *ref_labels, int64_t n_ref, int64_t d,
                            const int64_t *own, float loss_weight, float *loss,
                            float *grad, float *ref_grad);
int rll_loss_references_f64(const rll_params *p, const double *x,
                            const double *labels, int64_t n,
                            const double *ref_x, const double *ref_labels,
                            int64_t n_ref, int64_t d, const int64_t *own,
                            double loss_weight, double *loss, double *grad,
                            double *ref_grad);

/* The same on device memory (built with the cuda feature; otherwise
 * RLL_ERR_DEVICE): x, labels and grad are device pointers of `device`, work is
 * ordered on `stream` (a cudaStream_t; NULL: the legacy default stream); *loss
 * is host memory: rll_loss_gpu_async_* below on a workspace they allocate, then
 * one read-back and one synchronization. A non-finite input is
 * RLL_ERR_NON_FINITE naming it, as on the host; grad then holds NaN. */
int rll_loss_gpu_f32(const rll_params *p, const float *x, const float *labels,
                     int64_t n, int64_t d, float loss_weight, float *loss,
                     float *grad, void *stream, int device);
int rll_loss_gpu_f64(const rll_params *p, const double *x, const double *labels,
                     int64_t n, int64_t d, double loss_weight, double *loss,
                     double *grad, void *stream, int device);

/* Half precision: x, labels and grad as uint16_t bit patterns of IEEE binary16
 * (f16) or bfloat16 (bf16), computed in float (no overflow at any t_n); *loss
 * is a float; grad receives loss_weight * dE/dx rounded to nearest even and
 * saturated at the format's largest finite value. Labels are compared as
 * half values (exact integers up to 2048 in f16, 256 in bf16). */
int rll_loss_f16(const rll_params *p, const uint16_t *x, const uint16_t *labels,
                 int64_t n, int64_t d, float loss_weight, float *loss,
                 uint16_t *grad /* n*d values, may be NULL */);
int rll_loss_bf16(const rll_params *p, const uint16_t *x,
                  const uint16_t *labels, int64_t n, int64_t d,
                  float loss_weight, float *loss, uint16_t *grad);
/* The same on device memory (cuda feature; otherwise RLL_ERR_DEVICE). */
int rll_loss_gpu_f16(const rll_params *p, const uint16_t *x,
                     const uint16_t *labels, int64_t n, int64_t d,
                     float loss_weight, float *loss, uint16_t *grad,
                     void *stream, int device);
int rll_loss_gpu_bf16(const rll_params *p, const uint16_t *x,
                      const uint16_t *labels, int64_t n, int64_t d,
                      float loss_weight, float *loss, uint16_t *grad,
                      void *stream, int device);
/* Stream-ordered calls (cuda feature; otherwise RLL_ERR_DEVICE): between entry
 * and return they only enqueue kernels on `stream`: no allocation, no copy to
 * the host, no synchronization, so they can be captured in a CUDA graph.
 * *loss (1 value: float for f16/bf16), grad (n*d values, may be NULL) and
 * *status (1 value, may be NULL) are device memory; `workspace` is
 * workspace_bytes of device memory (any alignment), at least
 * rll_gpu_workspace_bytes_*, used for every temporary and not to be touched
 * until the stream has run the call. *status becomes -1 when every value of x
 * and labels is finite, else the smallest flat index of a non-finite x (or
 * n*d + i for labels[i]); then *loss and every gradient value are NaN.
 * Argument errors return at once, with nothing enqueued. The caller's current
 * context is current again on return. rll_gpu_workspace_bytes_* return 0 for
 * invalid parameters or sizes (the reason in rll_last_error). */
size_t rll_gpu_workspace_bytes_f32(const rll_params *p, int64_t n, int64_t d);
size_t rll_gpu_workspace_bytes_f64(const rll_params *p, int64_t n, int64_t d);
size_t rll_gpu_workspace_bytes_f16(const rll_params *p, int64_t n, int64_t d);
size_t rll_gpu_workspace_bytes_bf16(const rll_params *p, int64_t n, int64_t d);
int rll_loss_gpu_async_f32(const rll_params *p, const float *x,
                           const float *labels, int64_t n, int64_t d,
                           float loss_weight, float *loss, float *grad,
                           int64_t *status, void *workspace,
                           size_t workspace_bytes, void *stream, int device);
int rll_loss_gpu_async_f64(const rll_params *p, const double *x,
                           const double *labels, int64_t n, int64_t d,
                           double loss_weight, double *loss, double *grad,
                           int64_t *status, void *workspace,
                           size_t workspace_bytes, void *stream, int device);
int rll_loss_gpu_async_f16(const rll_params *p, const uint16_t *x,
                           const uint16_t *labels, int64_t n, int64_t d,
                           float loss_weight, float *loss, uint16_t *grad,
                           int64_t *status, void *workspace,
                           size_t workspace_bytes, void *stream, int device);
int rll_loss_gpu_async_bf16(const rll_params *p, const uint16_t *x,
                            const uint16_t *labels, int64_t n, int64_t d,
                            float loss_weight, float *loss, uint16_t *grad,
                            int64_t *status, void *workspace,
                            size_t workspace_bytes, void *stream, int device);
/* Queries against references on device memory, stream-ordered as
 * rll_loss_gpu_async_*: x (n*d) and labels (n) are the stacked rows [queries;
 * references], the first `queries` rows the queries; own (queries values, -1
 * for none, or NULL) each query's own copy among the references; grad
 * (queries*d, or NULL) receives loss_weight * dE/dqueries and ref_grad
 * ((n - queries)*d, or NULL) loss_weight * dE/dreferences. PAPER semantics. */
size_t rll_gpu_references_workspace_bytes_f32(const rll_params *p, int64_t n,
                                              int64_t queries, int64_t d);
size_t rll_gpu_references_workspace_bytes_f64(const rll_params *p, int64_t n,
                                              int64_t queries, int64_t d);
int rll_loss_references_gpu_async_f32(
    const rll_params *p, const float *x, const float *labels, int64_t n,
    int64_t queries, int64_t d, const int64_t *own, float loss_weight,
    float *loss, float *grad, float *ref_grad, int64_t *status, void *workspace,
    size_t workspace_bytes, void *stream, int device);
int rll_loss_references_gpu_async_f64(
    const rll_params *p, const double *x, const double *labels, int64_t n,
    int64_t queries, int64_t d, const int64_t *own, double loss_weight,
    double *loss, double *grad, double *ref_grad, int64_t *status,
    void *workspace,
    size_t workspace_bytes, void *stream, int device);
/* Thread-local message for the last nonzero return ("" if none). */
const char *rll_last_error(void);

/* Worker threads: n > 0 uses exactly n; 0 uses $RLL_NUM_THREADS if set, else
   chooses per call from the batch size (one thread for small batches, up to
   every core). Results are bit-identical for any count. */
int rll_set_num_threads(int n);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif  // RANKED_LIST_LOSS_H_  NOLINT(build/header_guard)
