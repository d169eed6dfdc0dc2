#ifndef CAFFE_RLL_BRIDGE_HPP_
#define CAFFE_RLL_BRIDGE_HPP_

// The one place where the Caffe layers meet the Rust library (cxx bridge,
// namespace rll). Overloads pick the Rust entry point of each Dtype; errors
// arrive as rust::Error and leave through RLL_CALL, naming the layer.

#include <string>

#include "caffe/common.hpp"
#include "caffe/layers/rll_errors.hpp"
#include "caffe/rll/bridge.rs.h"
#include "rust/cxx.h"

/// Runs a call into Rust for a layer; its error is reported by RLL_FAIL
/// ("<type> layer '<name>': ..."), with what_prefix before Rust's message.
#define RLL_CALL(layer, what_prefix, call)              \
  do {                                                  \
    try {                                               \
      call;                                             \
    } catch (const rust::Error& rll_error) {            \
      RLL_FAIL(layer, what_prefix << rll_error.what()); \
    }                                                   \
  } while (0)

namespace caffe {
namespace rll_bridge {

inline rust::Slice<const uint8_t> Bytes(const std::string& s) {
  return rust::Slice<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                    s.size());
}

template <typename T>
inline rust::Slice<T> Span(T* p, size_t n) {
  return n == 0 ? rust::Slice<T>() : rust::Slice<T>(p, n);
}

inline float Loss(const std::string& param, const float* x, const float* labels,
                  int n, int d, float loss_weight, float* grad, float* stats) {
  return rll::loss_f32(Bytes(param), Span(x, size_t(n) * d), Span(labels, n), n,
                       d, loss_weight, Span(grad, grad ? size_t(n) * d : 0),
                       Span(stats, stats ? size_t(n) * 4 : 0));
}
inline double Loss(const std::string& param, const double* x,
                   const double* labels, int n, int d, double loss_weight,
                   double* grad, double* stats) {
  return rll::loss_f64(Bytes(param), Span(x, size_t(n) * d), Span(labels, n), n,
                       d, loss_weight, Span(grad, grad ? size_t(n) * d : 0),
                       Span(stats, stats ? size_t(n) * 4 : 0));
}

inline void L2Normalize(const float* x, int n, int d, float* y, float* norms) {
  rll::l2_normalize_f32(Span(x, size_t(n) * d), n, d, Span(y, size_t(n) * d),
                        Span(norms, n));
}
inline void L2Normalize(const double* x, int n, int d, double* y,
                        double* norms) {
  rll::l2_normalize_f64(Span(x, size_t(n) * d), n, d, Span(y, size_t(n) * d),
                        Span(norms, n));
}

inline void L2NormalizeBackward(const float* y, const float* dy,
                                const float* norms, int n, int d, float* dx) {
  rll::l2_normalize_backward_f32(Span(y, size_t(n) * d),
                                 Span(dy, size_t(n) * d), Span(norms, n), n, d,
                                 Span(dx, size_t(n) * d));
}
inline void L2NormalizeBackward(const double* y, const double* dy,
                                const double* norms, int n, int d, double* dx) {
  rll::l2_normalize_backward_f64(Span(y, size_t(n) * d),
                                 Span(dy, size_t(n) * d), Span(norms, n), n, d,
                                 Span(dx, size_t(n) * d));
}

// The layer's cross-batch memory: the n queries x ranked against the n_ref
// references (its queue), own[i] each query's slot there; grad receives
// dE/dx.
inline float LossReferences(const std::string& param, const float* x,
                            const float* labels, int n, const float* refs,
                            const float* ref_labels, int n_ref, int d,
                            const int64_t* own, float* grad) {
  return rll::loss_references_f32(
      Bytes(param), Span(x, size_t(n) * d), Span(labels, n), n,
      Span(refs, size_t(n_ref) * d), Span(ref_labels, n_ref), n_ref, d,
      Span(own, n), Span(grad, size_t(n) * d));
}
inline double LossReferences(const std::string& param, const double* x,
                             const double* labels, int n, const double* refs,
                             const double* ref_labels, int n_ref, int d,
                             const int64_t* own, double* grad) {
  return rll::loss_references_f64(
      Bytes(param), Span(x, size_t(n) * d), Span(labels, n), n,
      Span(refs, size_t(n_ref) * d), Span(ref_labels, n_ref), n_ref, d,
      Span(own, n), Span(grad, size_t(n) * d));
}

// The device-memory entry points (a GPU build of Caffe; Rust built with
// --features cuda): the arguments go in one struct shared with Rust
// (rll::GpuLoss, rll::GpuL2), filled here and passed on unchanged. Pointers
// cross as integers; stream 0 is the legacy default stream Caffe uses.
template <typename T>
inline size_t Addr(const T* p) {
  return reinterpret_cast<size_t>(p);
}

template <typename T>
inline rll::GpuLoss GpuLossArgs(const T* x, const T* labels, int n, int d,
                                T* grad, T* stats, int device) {
  // By field name: reordering the fields of src/device_args.rs cannot swap
  // pointers.
  rll::GpuLoss a;
  a.x = Addr(x);
  a.labels = Addr(labels);
  a.n = size_t(n);
  a.d = size_t(d);
  a.grad = Addr(grad);
  a.stats = Addr(stats);
  a.stream = 0;  // the legacy default stream, as Caffe's own kernels use
  a.device = device;
  return a;
}
inline float LossGpu(const std::string& param, const float* x,
                     const float* labels, int n, int d, float* grad,
                     float* stats, int device) {
  return rll::loss_gpu_f32(
      Bytes(param), GpuLossArgs(x, labels, n, d, grad, stats, device), 1.0f);
}
inline double LossGpu(const std::string& param, const double* x,
                      const double* labels, int n, int d, double* grad,
                      double* stats, int device) {
  return rll::loss_gpu_f64(
      Bytes(param), GpuLossArgs(x, labels, n, d, grad, stats, device), 1.0);
}

// The stream-ordered call: E into *loss (device memory), the temporaries in
// `workspace` (bytes of device memory), *status -1 or the first non-finite
// input's index; nothing allocated, copied back or waited for.
inline rll::GpuOutputs GpuOutputsArgs(const void* loss, int64_t* status,
                                      void* workspace, size_t bytes) {
  rll::GpuOutputs o;
  o.loss = Addr(loss);
  o.status = Addr(status);
  o.workspace = Addr(workspace);
  o.workspace_bytes = bytes;
  return o;
}
// Queries against the layer's memory on the device: the first `queries` rows
// of x (n x d, the batch and then the queue) ranked against the rest.
inline size_t GpuReferencesWorkspaceBytes(const std::string& param, int n,
                                          int queries, int d, float) {
  return rll::gpu_references_workspace_bytes_f32(Bytes(param), size_t(n),
                                                 size_t(queries), size_t(d));
}
inline size_t GpuReferencesWorkspaceBytes(const std::string& param, int n,
                                          int queries, int d, double) {
  return rll::gpu_references_workspace_bytes_f64(Bytes(param), size_t(n),
                                                 size_t(queries), size_t(d));
}
inline void LossGpuReferencesAsync(const std::string& param, const float* x,
                                   const float* labels, int n, int queries,
                                   int d, const int64_t* own, float* grad,
                                   float* loss, int64_t* status,
                                   void* workspace, size_t bytes, int device) {
  float* no_stats = NULL;
  rll::loss_gpu_references_async_f32(
      Bytes(param), GpuLossArgs(x, labels, n, d, grad, no_stats, device),
      size_t(queries), Addr(own),
      GpuOutputsArgs(loss, status, workspace, bytes));
}
inline void LossGpuReferencesAsync(const std::string& param, const double* x,
                                   const double* labels, int n, int queries,
                                   int d, const int64_t* own, double* grad,
                                   double* loss, int64_t* status,
                                   void* workspace, size_t bytes, int device) {
  double* no_stats = NULL;
  rll::loss_gpu_references_async_f64(
      Bytes(param), GpuLossArgs(x, labels, n, d, grad, no_stats, device),
      size_t(queries), Addr(own),
      GpuOutputsArgs(loss, status, workspace, bytes));
}
inline size_t GpuWorkspaceBytes(const std::string& param, int n, int d,
                                float) {
  return rll::gpu_workspace_bytes_f32(Bytes(param), size_t(n), size_t(d));
}
inline size_t GpuWorkspaceBytes(const std::string& param, int n, int d,
                                double) {
  return rll::gpu_workspace_bytes_f64(Bytes(param), size_t(n), size_t(d));
}
inline void LossGpuAsync(const std::string& param, const float* x,
                         const float* labels, int n, int d, float* grad,
                         float* stats, float* loss, int64_t* status,
                         void* workspace, size_t bytes, int device) {
  rll::loss_gpu_async_f32(Bytes(param),
                          GpuLossArgs(x, labels, n, d, grad, stats, device),
                          1.0f, GpuOutputsArgs(loss, status, workspace, bytes));
}
inline void LossGpuAsync(const std::string& param, const double* x,
                         const double* labels, int n, int d, double* grad,
                         double* stats, double* loss, int64_t* status,
                         void* workspace, size_t bytes, int device) {
  rll::loss_gpu_async_f64(Bytes(param),
                          GpuLossArgs(x, labels, n, d, grad, stats, device),
                          1.0, GpuOutputsArgs(loss, status, workspace, bytes));
}

// Forward: x -> y, norms. Backward: y, dy, norms -> dx.
template <typename T>
inline rll::GpuL2 GpuL2Args(const T* x, const T* y, const T* norms, const T* dy,
                            const T* dx, int n, int d, int device) {
  rll::GpuL2 a;
  a.x = Addr(x);
  a.y = Addr(y);
  a.norms = Addr(norms);
  a.dy = Addr(dy);
  a.dx = Addr(dx);
  a.n = size_t(n);
  a.d = size_t(d);
  a.stream = 0;
  a.device = device;
  return a;
}
inline void L2NormalizeGpu(const float* x, int n, int d, float* y, float* norms,
                           int device) {
  rll::l2_normalize_gpu_f32(
      GpuL2Args<float>(x, y, norms, NULL, NULL, n, d, device));
}
inline void L2NormalizeGpu(const double* x, int n, int d, double* y,
                           double* norms, int device) {
  rll::l2_normalize_gpu_f64(
      GpuL2Args<double>(x, y, norms, NULL, NULL, n, d, device));
}
inline void L2NormalizeBackwardGpu(const float* y, const float* dy,
                                   const float* norms, int n, int d, float* dx,
                                   int device) {
  rll::l2_normalize_backward_gpu_f32(
      GpuL2Args<float>(NULL, y, norms, dy, dx, n, d, device));
}
inline void L2NormalizeBackwardGpu(const double* y, const double* dy,
                                   const double* norms, int n, int d,
                                   double* dx, int device) {
  rll::l2_normalize_backward_gpu_f64(
      GpuL2Args<double>(NULL, y, norms, dy, dx, n, d, device));
}

}  // namespace rll_bridge
}  // namespace caffe

#endif  // CAFFE_RLL_BRIDGE_HPP_
