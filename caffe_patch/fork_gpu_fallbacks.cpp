// ranked-list-loss (caffe_patch/build_caffe.sh --cuda): GPU entry points that the brocolli-caffe fork declares but
// never defines; in a CUDA build they run the layers' CPU code (Caffe syncs the blobs), so that the library links.
#include <vector>
#include "caffe/layers/hardsigmoid_layer.hpp"
#include "caffe/layers/hardswish_layer.hpp"
#include "caffe/layers/maxunpool_layer.hpp"
#include "caffe/layers/pixelshuffle_layer.hpp"
#include "caffe/layers/relu6_layer.hpp"
#include "caffe/layers/upsample_layer.hpp"
#include "caffe/layers/proposal_layer.hpp"

namespace caffe {

#define RLL_CPU_BACKWARD(classname)                                                                  \
  template <typename Dtype>                                                                         \
  void classname<Dtype>::Backward_gpu(const vector<Blob<Dtype>*>& top,                               \
                                      const vector<bool>& propagate_down,                            \
                                      const vector<Blob<Dtype>*>& bottom) {                          \
    Backward_cpu(top, propagate_down, bottom);                                                       \
  }                                                                                                 \
  INSTANTIATE_LAYER_GPU_BACKWARD(classname)

#define RLL_CPU_FALLBACK(classname)                                                                  \
  template <typename Dtype>                                                                         \
  void classname<Dtype>::Forward_gpu(const vector<Blob<Dtype>*>& bottom,                             \
                                     const vector<Blob<Dtype>*>& top) {                              \
    Forward_cpu(bottom, top);                                                                        \
  }                                                                                                 \
  INSTANTIATE_LAYER_GPU_FORWARD(classname);                                                          \
  RLL_CPU_BACKWARD(classname)

RLL_CPU_FALLBACK(HardSigmoidLayer);
RLL_CPU_FALLBACK(HardSwishLayer);
RLL_CPU_FALLBACK(MaxUnPoolLayer);
RLL_CPU_FALLBACK(PixelShuffleLayer);
RLL_CPU_FALLBACK(ReLU6Layer);
RLL_CPU_FALLBACK(UpsampleLayer);
RLL_CPU_BACKWARD(ProposalLayer);  // its Forward_gpu exists

}  // namespace caffe
