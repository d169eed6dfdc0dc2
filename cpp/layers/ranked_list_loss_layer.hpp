#ifndef CAFFE_RANKED_LIST_LOSS_LAYER_HPP_
#define CAFFE_RANKED_LIST_LOSS_LAYER_HPP_

#include <string>
#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"
#include "caffe/syncedmem.hpp"

#include "caffe/layers/loss_layer.hpp"

namespace caffe {

/**
 * @brief Ranked List Loss (Wang et al., CVPR 2019), computed by the Rust
 * library ranked_list_loss.
 *
 * With @f$ d_{ij} = \| x_i - x_j \|_2 @f$, @f$ \beta_P = \alpha - m @f$, @f$
 * \beta_N = \alpha @f$ and, for each query i, the mined sets @f$ P^*_i = \{ j
 * \ne i : y_j = y_i, d_{ij} > \beta_P \} @f$ and
 * @f$ N^*_i = \{ j : y_j \ne y_i, d_{ij} < \beta_N \} @f$, the PAPER semantics
 * computes
 * @f$ E = \frac{1}{N} \sum_i \left[ L_P(i) + \lambda L_N(i) \right] @f$ where
 * @f$ L_P @f$ and @f$ L_N @f$ are the means of the hinges @f$ d - \beta_P @f$
 * and @f$ \beta_N - d @f$ over the sets, weighted by
 * @f$ e^{T_p (d - \beta_P)} @f$ and @f$ e^{T_n (\beta_N - d)} @f$, and its
 * exact gradient. The OFFICIAL_V2020 and OFFICIAL_V2019 semantics reproduce the
 * official DistanceWeightedValidPairLossV12 layer (README, "Semantics").
 * Parameters: ranked_list_loss_param. The layer holds no maths: one call into
 * Rust per Forward.
 *
 * @param bottom input Blob vector (length 2)
 *   -# @f$ (N \times D \times ...) @f$ the features x (trailing axes flattened
 * to D)
 *   -# @f$ (N \times 1 \times ...) @f$ the class labels y, one per sample,
 * compared with ==
 * @param top output Blob vector (length 1 or 2)
 *   -# @f$ (1) @f$ the loss E
 *   -# optional @f$ (N \times 4) @f$ per-sample statistics @f$ L_P(i), L_N(i),
 * |P^*_i|, |N^*_i| @f$ (logging only, no gradient)
 */
template <typename Dtype>
class RankedListLossLayer : public LossLayer<Dtype> {
 public:
  explicit RankedListLossLayer(const LayerParameter& param)
      : LossLayer<Dtype>(param),
        grad_(),
        status_(sizeof(int64_t)),
        memory_size_(0),
        queue_next_(0),
        queue_filled_(0) {}
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
                          const vector<Blob<Dtype>*>& top);
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
                       const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "RankedListLoss"; }
  virtual inline int ExactNumBottomBlobs() const { return 2; }
  virtual inline int ExactNumTopBlobs() const { return -1; }
  virtual inline int MinTopBlobs() const { return 1; }
  virtual inline int MaxTopBlobs() const { return 2; }
  /// The labels (bottom[1]) receive no gradient.
  virtual inline bool AllowForceBackward(const int bottom_index) const {
    return bottom_index != 1;
  }

 protected:
  /// Computes E and caches dE/dx (for a unit loss weight) for Backward.
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);
  /// bottom[0] diff = (top[0] diff) · dE/dx.
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
                            const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);
  /// The same on the device (the Rust CUDA kernels on gpu_data(); needs Rust
  /// built with --features cuda).
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
                            const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);

  /// Serializes layer_param_ into param_bytes_ and has Rust check it (fatal,
  /// naming the layer, if bad).
  void SetParamBytes();
  /// Grows workspace_ to hold `bytes` (kept across iterations).
  void GrowWorkspace(size_t bytes);
  /// memory_size > 0: writes the batch into the queue at its next slots
  /// (wrapping around), before the loss, and records each row's slot in own_.
  void Enqueue(const Blob<Dtype>& x, const Blob<Dtype>& labels);
  /// The GPU Forward with a memory: the batch and the queue stacked, ranked
  /// by one stream-ordered call.
  void ForwardMemoryGpu(const vector<Blob<Dtype>*>& bottom,
                        const vector<Blob<Dtype>*>& top);

  /// The serialized LayerParameter, handed to Rust on every call.
  std::string param_bytes_;
  /// dE/dx of the last Forward, for a unit loss weight.
  Blob<Dtype> grad_;
  /// The GPU call's temporaries (the engine's workspace), kept across
  /// iterations; allocated on the device by the first Forward_gpu only.
  Blob<Dtype> workspace_;
  /// The GPU call's input check: -1, or the first non-finite input's index.
  SyncedMemory status_;
  /// The cross-batch memory (ranked_list_loss_param.memory_size > 0): its
  /// rows and labels, the next slot, how many slots are filled, and each
  /// batch row's slot in the last Forward (its own copy, left out of its list).
  int memory_size_;
  Blob<Dtype> memory_;
  Blob<Dtype> memory_labels_;
  int queue_next_;
  int queue_filled_;
  vector<int64_t> own_;
  /// The GPU call's stacked batch and queue, their labels, and own_ there.
  Blob<Dtype> stacked_;
  Blob<Dtype> stacked_labels_;
  shared_ptr<SyncedMemory> own_gpu_;
};

/**
 * @brief The original layer type of the RLL release, reading
 * contrastive_loss_param_v2, softmax_t_p_param and softmax_t_n_param with their
 * original field numbers: OFFICIAL_V2019 when contrastive_loss_param_v2.margin
 * is set, else OFFICIAL_V2020. One top (the value the original reports,
 * computed on the current batch).
 *
 * The public members are the original layer's handles on @f$ \tau @f$ (@f$
 * \alpha @f$ in V2019), m, T_p and T_n: the 2020 release's SGDSolver moves them
 * toward the solver's GR targets after every update, and Forward computes with
 * their current values, so that fork's schedule works with this layer too.
 */
template <typename Dtype>
class DistanceWeightedValidPairLossV12Layer
    : public RankedListLossLayer<Dtype> {
 public:
  explicit DistanceWeightedValidPairLossV12Layer(const LayerParameter& param)
      : RankedListLossLayer<Dtype>(param),
        negative_threshold(0),
        pn_margin(0),
        scale_p(0),
        scale_n(0) {}
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
                          const vector<Blob<Dtype>*>& top);
  virtual inline const char* type() const {
    return "DistanceWeightedValidPairLossV12";
  }
  virtual inline int ExactNumTopBlobs() const { return 1; }
  virtual inline int MaxTopBlobs() const { return 1; }

  float negative_threshold, pn_margin, scale_p, scale_n;

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);

 private:
  /// Writes handles that a solver changed into layer_param_ (and param_bytes_).
  void SyncHandles();
};

}  // namespace caffe

#endif  // CAFFE_RANKED_LIST_LOSS_LAYER_HPP_
