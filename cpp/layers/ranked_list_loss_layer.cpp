#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "caffe/layers/ranked_list_loss_layer.hpp"
#include "caffe/layers/rll_bridge.hpp"
#include "caffe/util/math_functions.hpp"

namespace caffe {

template <typename Dtype>
void RankedListLossLayer<Dtype>::LayerSetUp(const vector<Blob<Dtype>*>& bottom,
                                            const vector<Blob<Dtype>*>& top) {
  // The statistics top is for logging: by default it weighs 0 in the net's
  // loss.
  if (this->layer_param_.loss_weight_size() == 0) {
    this->layer_param_.add_loss_weight(Dtype(1));
    if (top.size() > 1) {
      this->layer_param_.add_loss_weight(Dtype(0));
    }
  }
  LossLayer<Dtype>::LayerSetUp(bottom, top);
  SetParamBytes();
  size_t memory = 0;
  RLL_CALL(*this, "",
           memory = rll::memory_size(rll_bridge::Bytes(param_bytes_)));
  if (memory > size_t(INT_MAX)) {
    RLL_FAIL(*this, "memory_size = " << memory << " is too large");
  }
  memory_size_ = static_cast<int>(memory);
  if (memory_size_ > 0) {
    if (top.size() > 1) {
      RLL_FAIL(*this, "the statistics top is not computed with memory_size = "
                          << memory_size_);
    }
    vector<int> shape(2);
    shape[0] = memory_size_;
    shape[1] = bottom[0]->count(1);
    memory_.Reshape(shape);
    memory_labels_.Reshape(vector<int>(1, memory_size_));
    queue_next_ = queue_filled_ = 0;
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Enqueue(const Blob<Dtype>& x,
                                         const Blob<Dtype>& labels) {
  const int num = x.shape(0);
  const int dim = x.count(1);
  const bool gpu = Caffe::mode() == Caffe::GPU;
  const Dtype* xs = gpu ? x.gpu_data() : x.cpu_data();
  const Dtype* ys = gpu ? labels.gpu_data() : labels.cpu_data();
  Dtype* mx = gpu ? memory_.mutable_gpu_data() : memory_.mutable_cpu_data();
  Dtype* my = gpu ? memory_labels_.mutable_gpu_data()
                  : memory_labels_.mutable_cpu_data();
  own_.resize(num);
  // Two runs at most: up to the queue's end, then from its start.
  const int first = std::min(num, memory_size_ - queue_next_);
  caffe_copy(first * dim, xs, mx + queue_next_ * dim);
  caffe_copy(first, ys, my + queue_next_);
  caffe_copy((num - first) * dim, xs + first * dim, mx);
  caffe_copy(num - first, ys + first, my);
  for (int k = 0; k < num; ++k) own_[k] = (queue_next_ + k) % memory_size_;
  queue_next_ = (queue_next_ + num) % memory_size_;
  queue_filled_ = std::min(memory_size_, queue_filled_ + num);
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::SetParamBytes() {
  this->layer_param_.SerializeToString(&param_bytes_);
  RLL_CALL(*this, "bad parameters: ",
           rll::check_layer_param(rll_bridge::Bytes(param_bytes_)));
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Reshape(const vector<Blob<Dtype>*>& bottom,
                                         const vector<Blob<Dtype>*>& top) {
  // Checked before LossLayer::Reshape, whose CHECK on the first axes would
  // abort the host (pycaffe, matcaffe) instead of reporting through RLL_FAIL.
  if (bottom[0]->num_axes() < 1 || bottom[0]->count(1) <= 0) {
    RLL_FAIL(*this, "bottom[0] (features) has no feature axis: shape "
                        << bottom[0]->shape_string());
  }
  const int num = bottom[0]->shape(0);
  if (bottom[1]->count() != num || bottom[1]->num_axes() < 1 ||
      bottom[1]->shape(0) != num) {
    RLL_FAIL(*this, "bottom[1] (labels) has "
                        << bottom[1]->count() << " values (shape "
                        << bottom[1]->shape_string()
                        << ") but bottom[0] (features) has " << num
                        << " samples: one label per sample is expected");
  }
  if (memory_size_ > 0 &&
      (num > memory_size_ || bottom[0]->count(1) != memory_.shape(1))) {
    RLL_FAIL(*this, "a batch of " << num << " x " << bottom[0]->count(1)
                                  << " features does not fit the memory of "
                                  << memory_size_ << " x " << memory_.shape(1));
  }
  LossLayer<Dtype>::Reshape(bottom, top);
  grad_.ReshapeLike(*bottom[0]);
  if (top.size() > 1) {
    vector<int> stats_shape(2);
    stats_shape[0] = num;
    stats_shape[1] = 4;
    top[1]->Reshape(stats_shape);
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Forward_cpu(const vector<Blob<Dtype>*>& bottom,
                                             const vector<Blob<Dtype>*>& top) {
  const int num = bottom[0]->shape(0);
  const int dim = bottom[0]->count(1);
  if (memory_size_ > 0) {
    // The batch is enqueued first, then ranked against the filled queue.
    Enqueue(*bottom[0], *bottom[1]);
    RLL_CALL(*this, "",
             top[0]->mutable_cpu_data()[0] = rll_bridge::LossReferences(
                 param_bytes_, bottom[0]->cpu_data(), bottom[1]->cpu_data(),
                 num, memory_.cpu_data(), memory_labels_.cpu_data(),
                 queue_filled_, dim, &own_[0], grad_.mutable_cpu_data()));
    return;
  }
  Dtype* stats = top.size() > 1 ? top[1]->mutable_cpu_data() : NULL;
  RLL_CALL(*this, "",
           top[0]->mutable_cpu_data()[0] = rll_bridge::Loss(
               param_bytes_, bottom[0]->cpu_data(), bottom[1]->cpu_data(), num,
               dim, Dtype(1), grad_.mutable_cpu_data(), stats));
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Backward_cpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  if (propagate_down[1]) {
    RLL_FAIL(*this, "cannot backpropagate to label inputs.");
  }
  if (propagate_down[0]) {
    caffe_cpu_scale(grad_.count(), top[0]->cpu_diff()[0], grad_.cpu_data(),
                    bottom[0]->mutable_cpu_diff());
  }
}

#ifndef CPU_ONLY
template <typename Dtype>
void RankedListLossLayer<Dtype>::GrowWorkspace(size_t bytes) {
  const size_t count = (bytes + sizeof(Dtype) - 1) / sizeof(Dtype);
  if (count > size_t(INT_MAX)) {
    RLL_FAIL(*this, "the GPU workspace of " << bytes << " bytes is too large");
  }
  if (size_t(workspace_.count()) < count) {
    workspace_.Reshape(vector<int>(1, static_cast<int>(count)));
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::ForwardMemoryGpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const int num = bottom[0]->shape(0);
  const int dim = bottom[0]->count(1);
  Enqueue(*bottom[0], *bottom[1]);
  // [batch; queue] in one blob: the engine ranks its first num rows against
  // the rest.
  const int n = num + queue_filled_;
  vector<int> shape(2);
  shape[0] = n;
  shape[1] = dim;
  stacked_.Reshape(shape);
  stacked_labels_.Reshape(vector<int>(1, n));
  caffe_copy(num * dim, bottom[0]->gpu_data(), stacked_.mutable_gpu_data());
  caffe_copy(queue_filled_ * dim, memory_.gpu_data(),
             stacked_.mutable_gpu_data() + num * dim);
  caffe_copy(num, bottom[1]->gpu_data(), stacked_labels_.mutable_gpu_data());
  caffe_copy(queue_filled_, memory_labels_.gpu_data(),
             stacked_labels_.mutable_gpu_data() + num);
  if (!own_gpu_ || own_gpu_->size() != num * sizeof(int64_t)) {
    own_gpu_.reset(new SyncedMemory(num * sizeof(int64_t)));
  }
  std::copy(own_.begin(), own_.end(),
            static_cast<int64_t*>(own_gpu_->mutable_cpu_data()));
  size_t bytes = 0;
  RLL_CALL(*this, "",
           bytes = rll_bridge::GpuReferencesWorkspaceBytes(param_bytes_, n, num,
                                                           dim, Dtype(0)));
  GrowWorkspace(bytes);
  RLL_CALL(*this, "",
           rll_bridge::LossGpuReferencesAsync(
               param_bytes_, stacked_.gpu_data(), stacked_labels_.gpu_data(), n,
               num, dim, static_cast<const int64_t*>(own_gpu_->gpu_data()),
               grad_.mutable_gpu_data(), top[0]->mutable_gpu_data(),
               static_cast<int64_t*>(status_.mutable_gpu_data()),
               workspace_.mutable_gpu_data(),
               size_t(workspace_.count()) * sizeof(Dtype), device));
  // Caffe's error for a non-finite input: the host call names the value.
  if (*static_cast<const int64_t*>(status_.cpu_data()) >= 0) {
    RLL_CALL(*this, "",
             rll_bridge::LossReferences(
                 param_bytes_, bottom[0]->cpu_data(), bottom[1]->cpu_data(),
                 num, memory_.cpu_data(), memory_labels_.cpu_data(),
                 queue_filled_, dim, &own_[0], grad_.mutable_cpu_data()));
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,
                                             const vector<Blob<Dtype>*>& top) {
  if (memory_size_ > 0) {
    ForwardMemoryGpu(bottom, top);
    return;
  }
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  const int num = bottom[0]->shape(0);
  const int dim = bottom[0]->count(1);
  Dtype* stats = top.size() > 1 ? top[1]->mutable_gpu_data() : NULL;
  // The engine's temporaries live in workspace_, grown when a batch needs
  // more and kept across iterations: no allocation per iteration.
  size_t bytes = 0;
  RLL_CALL(*this, "",
           bytes = rll_bridge::GpuWorkspaceBytes(param_bytes_, num, dim,
                                                 Dtype(0)));
  GrowWorkspace(bytes);
  RLL_CALL(*this, "",
           rll_bridge::LossGpuAsync(
               param_bytes_, bottom[0]->gpu_data(), bottom[1]->gpu_data(),
               num, dim, grad_.mutable_gpu_data(), stats,
               top[0]->mutable_gpu_data(),
               static_cast<int64_t*>(status_.mutable_gpu_data()),
               workspace_.mutable_gpu_data(),
               size_t(workspace_.count()) * sizeof(Dtype), device));
  // Caffe's error for a non-finite input: the status read back (the solver
  // reads the loss on the host after Forward anyway), then the synchronous
  // call, which names the value.
  if (*static_cast<const int64_t*>(status_.cpu_data()) >= 0) {
    RLL_CALL(*this, "",
             rll_bridge::LossGpu(param_bytes_, bottom[0]->gpu_data(),
                                 bottom[1]->gpu_data(), num, dim,
                                 grad_.mutable_gpu_data(), stats, device));
  }
}

template <typename Dtype>
void RankedListLossLayer<Dtype>::Backward_gpu(
    const vector<Blob<Dtype>*>& top, const vector<bool>& propagate_down,
    const vector<Blob<Dtype>*>& bottom) {
  if (propagate_down[1]) {
    RLL_FAIL(*this, "cannot backpropagate to label inputs.");
  }
  if (propagate_down[0]) {
    caffe_gpu_scale(grad_.count(), top[0]->cpu_diff()[0], grad_.gpu_data(),
                    bottom[0]->mutable_gpu_diff());
  }
}
#else
STUB_GPU(RankedListLossLayer);
#endif

template <typename Dtype>
void DistanceWeightedValidPairLossV12Layer<Dtype>::LayerSetUp(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  RankedListLossLayer<Dtype>::LayerSetUp(bottom, top);
  // The engine says which field tau is read from (docs/semantics.md).
  rll::ScheduleValues v;
  RLL_CALL(*this, "",
           v = rll::schedule_values(rll_bridge::Bytes(this->param_bytes_)));
  negative_threshold = v.tau;
  pn_margin = v.margin;
  scale_p = v.t_p;
  scale_n = v.t_n;
}

template <typename Dtype>
void DistanceWeightedValidPairLossV12Layer<Dtype>::SyncHandles() {
  rll::ScheduleValues handles;
  handles.tau = negative_threshold;
  handles.margin = pn_margin;
  handles.t_p = scale_p;
  handles.t_n = scale_n;
  rll::ScheduleValues current;
  RLL_CALL(*this, "",
           current = rll::schedule_values(
               rll_bridge::Bytes(this->param_bytes_)));
  if (current == handles) {
    return;
  }
  // Rust writes each value back into the field it is read from; the layer
  // merges those fields into its own parameters.
  rust::Vec<uint8_t> fields;
  RLL_CALL(*this, "",
           fields = rll::schedule_fields(
               rll_bridge::Bytes(this->param_bytes_), handles));
  if (!this->layer_param_.MergeFromString(std::string(
          reinterpret_cast<const char*>(fields.data()), fields.size()))) {
    RLL_FAIL(*this, "cannot merge the schedule's fields");
  }
  this->SetParamBytes();
}

template <typename Dtype>
void DistanceWeightedValidPairLossV12Layer<Dtype>::Forward_cpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  SyncHandles();
  RankedListLossLayer<Dtype>::Forward_cpu(bottom, top);
}

template <typename Dtype>
void DistanceWeightedValidPairLossV12Layer<Dtype>::Forward_gpu(
    const vector<Blob<Dtype>*>& bottom, const vector<Blob<Dtype>*>& top) {
  SyncHandles();
  RankedListLossLayer<Dtype>::Forward_gpu(bottom, top);
}

INSTANTIATE_CLASS(RankedListLossLayer);
REGISTER_LAYER_CLASS(RankedListLoss);
INSTANTIATE_CLASS(DistanceWeightedValidPairLossV12Layer);
REGISTER_LAYER_CLASS(DistanceWeightedValidPairLossV12);

}  // namespace caffe
