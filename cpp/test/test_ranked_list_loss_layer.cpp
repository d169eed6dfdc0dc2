// Tests of the RankedListLoss and DistanceWeightedValidPairLossV12 layers (Caffe's own harness), float and double.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/ranked_list_loss_layer.hpp"
#include "caffe/rll/ranked_list_loss.h"

#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_gradient_check_util.hpp"

namespace caffe {

// The C ABI, per Dtype, as an independent entry to the same engine.
inline int RllC(const rll_params* p, const float* x, const float* y, int n, int d,
                float* loss, float* grad) {
  return rll_loss_f32(p, x, y, n, d, 1.0f, loss, grad);
}
inline int RllC(const rll_params* p, const double* x, const double* y, int n,
                int d, double* loss, double* grad) {
  return rll_loss_f64(p, x, y, n, d, 1.0, loss, grad);
}

template <typename TypeParam>
class RankedListLossLayerTest : public MultiDeviceTest<TypeParam> {
  typedef typename TypeParam::Dtype Dtype;

 protected:
  // A 3 classes x 3 samples batch in R^4, drawn until no pair lies within kGap of a set boundary of the default
  // parameters (0.8 and 1.2): the loss jumps where a pair enters a set, and the checker steps by 1e-2.
  RankedListLossLayerTest()
      : blob_bottom_data_(new Blob<Dtype>(9, 4, 1, 1)),
        blob_bottom_y_(new Blob<Dtype>(9, 1, 1, 1)),
        blob_top_loss_(new Blob<Dtype>()),
        blob_top_stats_(new Blob<Dtype>()) {
    FillerParameter filler_param;
    filler_param.set_min(-0.45);
    filler_param.set_max(0.45);
    UniformFiller<Dtype> filler(filler_param);
    for (int attempt = 0; attempt < 10000; ++attempt) {
      filler.Fill(this->blob_bottom_data_);
      if (BoundaryGap() > kGap) break;
    }
    CHECK_GT(BoundaryGap(), kGap) << "no batch away from the set boundaries";
    for (int i = 0; i < 9; ++i) blob_bottom_y_->mutable_cpu_data()[i] = i / 3;
    blob_bottom_vec_.push_back(blob_bottom_data_);
    blob_bottom_vec_.push_back(blob_bottom_y_);
    blob_top_vec_.push_back(blob_top_loss_);
  }
  virtual ~RankedListLossLayerTest() {
    delete blob_bottom_data_;
    delete blob_bottom_y_;
    delete blob_top_loss_;
    delete blob_top_stats_;
  }

  static const double kGap;

  double Dist(const Blob<Dtype>& x, int i, int j) const {
    const int d = x.count(1);
    double s = 0;
    for (int k = 0; k < d; ++k) {
      const double t = x.cpu_data()[i * d + k] - x.cpu_data()[j * d + k];
      s += t * t;
    }
    return std::sqrt(s);
  }
  double BoundaryGap() const {
    double gap = 1e9;
    for (int i = 0; i < 9; ++i) {
      for (int j = i + 1; j < 9; ++j) {
        const double d = Dist(*blob_bottom_data_, i, j);
        gap = std::min(gap, std::min(std::fabs(d - 0.8), std::fabs(d - 1.2)));
      }
    }
    return gap;
  }

  // The PAPER loss with a plain loop: L = 1/N sum_i [L_P(i) + lambda L_N(i)] (T_p = 0, T_n = 10, lambda = 1).
  double PlainPaperLoss() const {
    const int n = 9;
    const Dtype* y = blob_bottom_y_->cpu_data();
    const double bp = 1.2f - 0.4f, bn = 1.2f, tn = 10;
    double total = 0;
    for (int i = 0; i < n; ++i) {
      double wp = 0, hp = 0, wn = 0, hn = 0;
      for (int j = 0; j < n; ++j) {
        const double d = Dist(*blob_bottom_data_, i, j);
        if (j != i && y[j] == y[i] && d > bp) {
          wp += 1;
          hp += d - bp;
        } else if (y[j] != y[i] && d < bn) {
          const double w = std::exp(tn * (bn - d));
          wn += w;
          hn += w * (bn - d);
        }
      }
      total += (wp > 0 ? hp / wp : 0) + (wn > 0 ? hn / wn : 0);
    }
    return total / n;
  }

  Blob<Dtype>* const blob_bottom_data_;
  Blob<Dtype>* const blob_bottom_y_;
  Blob<Dtype>* const blob_top_loss_;
  Blob<Dtype>* const blob_top_stats_;
  vector<Blob<Dtype>*> blob_bottom_vec_;
  vector<Blob<Dtype>*> blob_top_vec_;
};

template <typename TypeParam>
const double RankedListLossLayerTest<TypeParam>::kGap = 0.03;

TYPED_TEST_CASE(RankedListLossLayerTest, TestDtypesAndDevices);

TYPED_TEST(RankedListLossLayerTest, TestForwardEqualsPlainLoop) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  const double expected = this->PlainPaperLoss();
  EXPECT_GT(expected, 0);
  EXPECT_NEAR(this->blob_top_loss_->cpu_data()[0], expected, 1e-5 * std::max(1.0, expected));
}

TYPED_TEST(RankedListLossLayerTest, TestForwardEqualsTheCAbi) {
  typedef typename TypeParam::Dtype Dtype;
  const int semantics[3] = {RLL_PAPER, RLL_OFFICIAL_V2020, RLL_OFFICIAL_V2019};
  for (int s = 0; s < 3; ++s) {
    LayerParameter layer_param;
    RankedListLossParameter* p = layer_param.mutable_ranked_list_loss_param();
    p->set_margin(0.3);
    p->set_alpha(1.1);
    p->set_t_n(7);
    p->set_t_p(2);
    p->set_lambda(0.7);
    p->set_semantics(static_cast<RankedListLossParameter_Semantics>(semantics[s]));
    p->set_query_only(s == 0);
    layer_param.add_loss_weight(2.5);
    RankedListLossLayer<Dtype> layer(layer_param);
    layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
    layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
    vector<bool> down(2, false);
    down[0] = true;
    layer.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_);

    rll_params c;
    rll_params_default(&c);
    c.margin = 0.3f;
    c.alpha = 1.1f;
    c.t_n = 7;
    c.t_p = 2;
    c.lambda = 0.7f;
    c.semantics = semantics[s];
    c.query_only = s == 0;
    Dtype loss;
    vector<Dtype> grad(9 * 4);
    ASSERT_EQ(0, RllC(&c, this->blob_bottom_data_->cpu_data(), this->blob_bottom_y_->cpu_data(), 9, 4, &loss,
                      &grad[0])) << rll_last_error();
    EXPECT_EQ(loss, this->blob_top_loss_->cpu_data()[0]) << "semantics " << s;
    for (int k = 0; k < 9 * 4; ++k) {
      // The layer scales the unit-weight gradient by the loss weight 2.5.
      EXPECT_NEAR(this->blob_bottom_data_->cpu_diff()[k], Dtype(2.5) * grad[k],
                  1e-6 * std::max(Dtype(1), std::fabs(grad[k]))) << "semantics " << s << " k " << k;
    }
  }
}

TYPED_TEST(RankedListLossLayerTest, TestGradientPaper) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  layer_param.add_loss_weight(3);
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  GradientChecker<Dtype> checker(1e-2, 1e-2, 1701);
  checker.CheckGradientExhaustive(&layer, this->blob_bottom_vec_, this->blob_top_vec_, 0);
}

TYPED_TEST(RankedListLossLayerTest, TestGradientPaperWithPositiveWeights) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  layer_param.mutable_ranked_list_loss_param()->set_t_p(3);
  layer_param.mutable_ranked_list_loss_param()->set_lambda(0.5);
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  GradientChecker<Dtype> checker(1e-2, 1e-2, 1701);
  checker.CheckGradientExhaustive(&layer, this->blob_bottom_vec_, this->blob_top_vec_, 0);
}

TYPED_TEST(RankedListLossLayerTest, TestStatsTop) {
  typedef typename TypeParam::Dtype Dtype;
  this->blob_top_vec_.push_back(this->blob_top_stats_);
  LayerParameter layer_param;
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  ASSERT_EQ(this->blob_top_stats_->shape(0), 9);
  ASSERT_EQ(this->blob_top_stats_->shape(1), 4);
  const Dtype* y = this->blob_bottom_y_->cpu_data();
  for (int i = 0; i < 9; ++i) {
    int pos = 0, neg = 0;
    for (int j = 0; j < 9; ++j) {
      const double d = this->Dist(*this->blob_bottom_data_, i, j);
      if (j != i && y[j] == y[i] && d > 0.8) ++pos;
      if (y[j] != y[i] && d < 1.2) ++neg;
    }
    EXPECT_EQ(this->blob_top_stats_->cpu_data()[i * 4 + 2], pos);
    EXPECT_EQ(this->blob_top_stats_->cpu_data()[i * 4 + 3], neg);
  }
}

// Spec B.3's worked example through the original layer type: every printed digit of the V2020 gradient.
TYPED_TEST(RankedListLossLayerTest, TestOriginalLayerWorkedExample) {
  typedef typename TypeParam::Dtype Dtype;
  Blob<Dtype> x(4, 2, 1, 1), y(4, 1, 1, 1), loss;
  const double deg[4] = {0, 60, 30, 150};
  for (int i = 0; i < 4; ++i) {
    x.mutable_cpu_data()[2 * i] = std::cos(deg[i] * M_PI / 180);
    x.mutable_cpu_data()[2 * i + 1] = std::sin(deg[i] * M_PI / 180);
    y.mutable_cpu_data()[i] = i / 2;
  }
  vector<Blob<Dtype>*> bottom, top;
  bottom.push_back(&x);
  bottom.push_back(&y);
  top.push_back(&loss);
  LayerParameter layer_param;
  layer_param.set_type("DistanceWeightedValidPairLossV12");
  layer_param.mutable_contrastive_loss_param_v2()->set_pn_margin(0.4);
  layer_param.mutable_softmax_t_p_param()->set_scale(0);
  layer_param.mutable_softmax_t_n_param()->set_scale(10);
  DistanceWeightedValidPairLossV12Layer<Dtype> layer(layer_param);
  layer.SetUp(bottom, top);
  layer.Forward(bottom, top);
  vector<bool> down(2, false);
  down[0] = true;
  layer.Backward(top, down, bottom);
  const double expected[8] = {0.030147619, 0.012487429, 0.025888240, 0.019864889,
                              0.193858614, -0.032334741, -0.000135825, 0.0};
  // double: every printed digit (9 decimals); float: float32 rounding of inputs and arithmetic.
  const double tol = sizeof(Dtype) == 8 ? 8e-10 : 2e-6;
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(x.cpu_diff()[k], expected[k], tol) << "k = " << k;
  EXPECT_NEAR(loss.cpu_data()[0], 0.306659043, sizeof(Dtype) == 8 ? 1e-8 : 2e-6);
  // With margin set, the same layer follows V2019.
  layer_param.mutable_contrastive_loss_param_v2()->set_margin(1.2);
  DistanceWeightedValidPairLossV12Layer<Dtype> v2019(layer_param);
  v2019.SetUp(bottom, top);
  v2019.Forward(bottom, top);
  v2019.Backward(top, down, bottom);
  const double expected2019[8] = {0.045753175, -0.045753174, -0.016746824, 0.062499999,
                                  0.403786850, -0.016737726, -0.000235256, 0.0};
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(x.cpu_diff()[k], expected2019[k], tol) << "k = " << k;
}

typedef RankedListLossLayerTest<CPUDevice<double> > RankedListLossLayerDeathTest;

TEST_F(RankedListLossLayerDeathTest, TestLabelCountMismatchIsRefused) {
  Blob<double> labels(9, 2, 1, 1);
  this->blob_bottom_vec_[1] = &labels;
  LayerParameter layer_param;
  layer_param.set_name("loss_h");
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "RankedListLoss layer 'loss_h': bottom\\[1\\] \\(labels\\) has 18 values \\(shape 9 2 1 1 \\(18\\)\\) "
               "but bottom\\[0\\] \\(features\\) has 9 samples");
}

TEST_F(RankedListLossLayerDeathTest, TestFirstAxisMismatchIsRefused) {
  Blob<double> labels(8, 1, 1, 1);
  this->blob_bottom_vec_[1] = &labels;
  LayerParameter layer_param;
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_), "same first dimension");
}

TEST_F(RankedListLossLayerDeathTest, TestNonFiniteFeatureIsNamed) {
  this->blob_bottom_data_->mutable_cpu_data()[4 * 2 + 1] = NAN;
  LayerParameter layer_param;
  layer_param.set_name("loss_m");
  RankedListLossLayer<double> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  EXPECT_DEATH(layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_),
               "RankedListLoss layer 'loss_m': x\\[2\\]\\[1\\] = NaN is not finite");
}

TEST_F(RankedListLossLayerDeathTest, TestBadParameterIsNamed) {
  LayerParameter layer_param;
  layer_param.set_name("loss_l");
  layer_param.mutable_ranked_list_loss_param()->set_margin(-1);
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "RankedListLoss layer 'loss_l': bad parameters: layer 'loss_l': margin = -1 is negative");
}

TEST_F(RankedListLossLayerDeathTest, TestLabelsGetNoGradient) {
  LayerParameter layer_param;
  RankedListLossLayer<double> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  vector<bool> down(2, true);
  EXPECT_DEATH(layer.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_),
               "cannot backpropagate to label inputs");
  EXPECT_FALSE(layer.AllowForceBackward(1));
}

}  // namespace caffe
