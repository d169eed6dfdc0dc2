#ifndef CAFFE_NORMALIZATION_LAYER_HPP_
#define CAFFE_NORMALIZATION_LAYER_HPP_

#include <vector>

#include "caffe/blob.hpp"
#include "caffe/layer.hpp"
#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * @brief L2-normalises each sample: @f$ y = x / \|x\|_2 @f$, with the exact
 * Jacobian
 * @f$ \partial E / \partial x = (\partial E / \partial y - (y \cdot \partial E
 * / \partial y) y) / \|x\|_2 @f$ (computed by the Rust library
 * ranked_list_loss). A zero sample gives a zero output and receives zero
 * gradient (the original layer gave NaN). Parameters: normalization_param {
 * norm: L2 } (L1 is refused).
 *
 * @param bottom input Blob vector (length 1): @f$ (N \times ...) @f$
 * @param top output Blob vector (length 1): the same shape, each sample of unit
 * norm
 */
template <typename Dtype>
class NormalizationLayer : public Layer<Dtype> {
 public:
  explicit NormalizationLayer(const LayerParameter& param)
      : Layer<Dtype>(param), norms_() {}
  virtual void LayerSetUp(const vector<Blob<Dtype>*>& bottom,
                          const vector<Blob<Dtype>*>& top);
  virtual void Reshape(const vector<Blob<Dtype>*>& bottom,
                       const vector<Blob<Dtype>*>& top);

  virtual inline const char* type() const { return "Normalization"; }
  virtual inline int ExactNumBottomBlobs() const { return 1; }
  virtual inline int ExactNumTopBlobs() const { return 1; }

 protected:
  virtual void Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);
  virtual void Backward_cpu(const vector<Blob<Dtype>*>& top,
                            const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);
  virtual void Forward_gpu(const vector<Blob<Dtype>*>& bottom,
                           const vector<Blob<Dtype>*>& top);
  virtual void Backward_gpu(const vector<Blob<Dtype>*>& top,
                            const vector<bool>& propagate_down,
                            const vector<Blob<Dtype>*>& bottom);

  /// ‖x_i‖ of the last Forward.
  Blob<Dtype> norms_;
};

}  // namespace caffe

#endif  // CAFFE_NORMALIZATION_LAYER_HPP_
