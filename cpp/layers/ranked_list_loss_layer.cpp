#include <string>
#include <vector>

#include "caffe/layers/ranked_list_loss_layer.hpp"
#include "caffe/layers/rll_bridge.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

template <typename Dtype>
void RankedListLossLayer<Dtype>::LayerSetUp(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  // The statistics top is for logging: by default it weighs 0 in the net's loss.
  if (this->layer_param_.loss_weight_size() == 0) {
    this->layer_param_.add_loss_weight(Dtype(1));
    if (top.size() > 1) { this->layer_param_.add_loss_weight(Dtype(0)); }
  }
  LossLayer<Dtype>::LayerSetUp(bottom, top);
  this->layer_param_.SerializeToString(&param_bytes_);
  try {
    rll::check_layer_param(rll_bridge::Bytes(param_bytes_));
  } catch (const rust::Error& e) {
    LOG(FATAL) << this->type() << " layer '" << this->layer_param_.name()
               << "': bad parameters: " << e.what();
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Reshape(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  LossLayer<Dtype>::Reshape(bottom, top);
  const int num = bottom[0]->shape(0);
  CHECK_GT(bottom[0]->count(1), 0) << this->type() << " layer '"
      << this->layer_param_.name() << "': bottom[0] (features) has no feature "
      << "axis: shape " << bottom[0]->shape_string();
  CHECK_EQ(bottom[1]->count(), num) << this->type() << " layer '"
      << this->layer_param_.name() << "': bottom[1] (labels) has "
      << bottom[1]->count() << " values (shape " << bottom[1]->shape_string()
      << ") but bottom[0] (features) has " << num << " samples";
  grad_.ReshapeLike(*bottom[0]);
  if (top.size() > 1) {
    vector<int> stats_shape(2);
    stats_shape[0] = num;
    stats_shape[1] = 4;
    top[1]->Reshape(stats_shape);
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Forward_cpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  const int num = bottom[0]->shape(0);
  const int dim = bottom[0]->count(1);
  Dtype* stats = top.size() > 1 ? top[1]->mutable_cpu_data() : NULL;
  try {
    top[0]->mutable_cpu_data()[0] = rll_bridge::Loss(param_bytes_,
        bottom[0]->cpu_data(), bottom[1]->cpu_data(), num, dim, Dtype(1),
        grad_.mutable_cpu_data(), stats);
  } catch (const rust::Error& e) {
    LOG(FATAL) << this->type() << " layer '" << this->layer_param_.name()
               << "': " << e.what();
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Backward_cpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (propagate_down[1]) {
    LOG(FATAL) << this->type() << " layer '" << this->layer_param_.name()
               << "' cannot backpropagate to label inputs.";
  }
  if (propagate_down[0]) {
    caffe_cpu_scale(grad_.count(), top[0]->cpu_diff()[0], grad_.cpu_data(),
        bottom[0]->mutable_cpu_diff());
  }
}

#ifndef CPU_ONLY
template <typename Dtype>
void RankedListLossLayer<Dtype>::Forward_gpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  Dtype* stats = top.size() > 1 ? top[1]->mutable_gpu_data() : NULL;
  try {
    top[0]->mutable_cpu_data()[0] = rll_bridge::LossGpu(param_bytes_,
        bottom[0]->gpu_data(), bottom[1]->gpu_data(), bottom[0]->shape(0),
        bottom[0]->count(1), grad_.mutable_gpu_data(), stats, device);
  } catch (const rust::Error& e) {
    LOG(FATAL) << this->type() << " layer '" << this->layer_param_.name()
               << "': " << e.what();
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Backward_gpu(const vector<Blob<Dtype>*>& top,
    const vector<bool>& propagate_down, const vector<Blob<Dtype>*>& bottom) {
  if (propagate_down[1]) {
    LOG(FATAL) << this->type() << " layer '" << this->layer_param_.name()
               << "' cannot backpropagate to label inputs.";
  }
  if (propagate_down[0]) {
    caffe_gpu_scale(grad_.count(), top[0]->cpu_diff()[0], grad_.gpu_data(),
        bottom[0]->mutable_gpu_diff());
  }
}
#else
STUB_GPU(RankedListLossLayer);
#endif

INSTANTIATE_CLASS(RankedListLossLayer);
REGISTER_LAYER_CLASS(RankedListLoss);
INSTANTIATE_CLASS(DistanceWeightedValidPairLossV12Layer);
REGISTER_LAYER_CLASS(DistanceWeightedValidPairLossV12);

}  // namespace caffe
