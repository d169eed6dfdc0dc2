// Tests of the Normalization layer (L2 per sample), float and double.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/normalization_layer.hpp"

#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_gradient_check_util.hpp"

namespace caffe {

template <typename TypeParam>
class NormalizationLayerTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  NormalizationLayerTest()
      : blob_bottom_(new Blob<Dtype>(5, 3, 2, 1)),
        blob_top_(new Blob<Dtype>()) {
    FillerParameter filler_param;
    filler_param.set_std(1);
    GaussianFiller<Dtype> filler(filler_param);
    filler.Fill(this->blob_bottom_);
    blob_bottom_vec_.push_back(blob_bottom_);
    blob_top_vec_.push_back(blob_top_);
  }
  virtual ~NormalizationLayerTest() {
    delete blob_bottom_;
    delete blob_top_;
  }
  Blob<Dtype>* const blob_bottom_;
  Blob<Dtype>* const blob_top_;
  vector<Blob<Dtype>*> blob_bottom_vec_;
  vector<Blob<Dtype>*> blob_top_vec_;
};

TYPED_TEST_CASE(NormalizationLayerTest, TestDtypesAndDevices);

TYPED_TEST(NormalizationLayerTest, TestForwardGivesUnitRowsAlongInput) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  NormalizationLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  ASSERT_EQ(this->blob_top_->shape_string(),
            this->blob_bottom_->shape_string());
  for (int i = 0; i < 5; ++i) {
    double norm = 0;
    for (int k = 0; k < 6; ++k)
      norm += std::pow(
          static_cast<double>(this->blob_bottom_->cpu_data()[i * 6 + k]), 2);
    norm = std::sqrt(norm);
    for (int k = 0; k < 6; ++k) {
      EXPECT_NEAR(this->blob_top_->cpu_data()[i * 6 + k],
                  this->blob_bottom_->cpu_data()[i * 6 + k] / norm, 1e-6);
    }
  }
}

TYPED_TEST(NormalizationLayerTest, TestGradient) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  NormalizationLayer<Dtype> layer(layer_param);
  GradientChecker<Dtype> checker(1e-3, 1e-3);
  checker.CheckGradientExhaustive(&layer, this->blob_bottom_vec_,
                                  this->blob_top_vec_);
}

TYPED_TEST(NormalizationLayerTest, TestZeroRowGivesZerosNotNaN) {
  typedef typename TypeParam::Dtype Dtype;
  for (int k = 0; k < 6; ++k) this->blob_bottom_->mutable_cpu_data()[6 + k] = 0;
  LayerParameter layer_param;
  NormalizationLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  for (int k = 0; k < 6; ++k) this->blob_top_->mutable_cpu_diff()[k + 6] = 1;
  vector<bool> down(1, true);
  layer.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_);
  for (int k = 0; k < 6; ++k) {
    EXPECT_EQ(this->blob_top_->cpu_data()[6 + k], 0);
    EXPECT_EQ(this->blob_bottom_->cpu_diff()[6 + k], 0);
  }
}

typedef NormalizationLayerTest<CPUDevice<float> > NormalizationLayerDeathTest;

TEST_F(NormalizationLayerDeathTest, TestL1IsRefused) {
  LayerParameter layer_param;
  layer_param.set_name("norm_h");
  layer_param.mutable_normalization_param()->set_norm(
      NormalizationParameter_Norm_L1);
  NormalizationLayer<float> layer(layer_param);
  EXPECT_DEATH(
      layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
      "Normalization layer 'norm_h': only norm: L2 is supported \\(got L1\\)");
}

}  // namespace caffe
