#include <vector>

#include "caffe/layers/normalization_layer.hpp"
#include "caffe/layers/rll_bridge.hpp"

namespace caffe {

template <typename Dtype>
void NormalizationLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
                                           const vector<Blob<Dtype>*>& top) {
  const NormalizationParameter_Norm norm =
      this->layer_param_.normalization_param().norm();
  if (norm != NormalizationParameter_Norm_L2) {
    RLL_FAIL(*this, "only norm: L2 is supported (got "
                        << NormalizationParameter_Norm_Name(norm) << ")");
  }
}

template <typename Dtype>
void NormalizationLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
                                        const vector<Blob<Dtype>*>& top) {
  if (bottom[0]->num_axes() < 1) {
    RLL_FAIL(*this, "bottom[0] needs a sample axis");
  }
  top[0]->ReshapeLike(*bottom[0]);
  vector<int> norms_shape(1, bottom[0]->shape(0));
  norms_.Reshape(norms_shape);
}

template <typename Dtype>
void NormalizationLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                                            const vector<Blob<Dtype>*>& top) {
  RLL_CALL(*this, "",
           rll_bridge::L2Normalize(
               bottom[0]->cpu_data(), bottom[0]->shape(0), bottom[0]->count(1),
               top[0]->mutable_cpu_data(), norms_.mutable_cpu_data()));
}

template <typename Dtype>
void NormalizationLayer<Dtype>::Backward_cpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) {
    return;
  }
  RLL_CALL(*this, "",
           rll_bridge::L2NormalizeBackward(
               top[0]->cpu_data(), top[0]->cpu_diff(), norms_.cpu_data(),
               bottom[0]->shape(0), bottom[0]->count(1),
               bottom[0]->mutable_cpu_diff()));
}

#ifndef CPU_ONLY
template <typename Dtype>
void NormalizationLayer<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,
                                            const vector<Blob<Dtype>*>& top) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  RLL_CALL(*this, "",
           rll_bridge::L2NormalizeGpu(
               bottom[0]->gpu_data(), bottom[0]->shape(0), bottom[0]->count(1),
               top[0]->mutable_gpu_data(), norms_.mutable_gpu_data(), device));
}

template <typename Dtype>
void NormalizationLayer<Dtype>::Backward_gpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  if (!propagate_down[0]) {
    return;
  }
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  RLL_CALL(*this, "",
           rll_bridge::L2NormalizeBackwardGpu(
               top[0]->gpu_data(), top[0]->gpu_diff(), norms_.gpu_data(),
               bottom[0]->shape(0), bottom[0]->count(1),
               bottom[0]->mutable_gpu_diff(), device));
}
#else
STUB_GPU(NormalizationLayer);
#endif

INSTANTIATE_CLASS(NormalizationLayer);
REGISTER_LAYER_CLASS(Normalization);

}  // namespace caffe
