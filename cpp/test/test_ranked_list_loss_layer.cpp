// Tests of the RankedListLoss and DistanceWeightedValidPairLossV12 layers
// (Caffe's own harness), float and double.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/text_format.h"

#include "gtest/gtest.h"

#include "caffe/blob.hpp"
#include "caffe/common.hpp"
#include "caffe/filler.hpp"
#include "caffe/layers/ranked_list_loss_layer.hpp"
#include "caffe/net.hpp"
#include "caffe/rll/ranked_list_loss.h"

#include "caffe/test/test_caffe_main.hpp"
#include "caffe/test/test_gradient_check_util.hpp"

namespace caffe {

// The C ABI, per Dtype, as an independent entry to the same engine.
inline int RllC(const rll_params* p, const float* x, const float* y, int n,
                int d, float* loss, float* grad) {
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
  // A 3 classes x 3 samples batch in R^4, drawn until no pair lies within kGap
  // of a set boundary of the default parameters (0.8 and 1.2): the loss jumps
  // where a pair enters a set, and the checker steps by 1e-2.
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

  // The PAPER loss with a plain loop: L = 1/N sum_i [L_P(i) + lambda L_N(i)]
  // (T_p = 0, T_n = 10, lambda = 1).
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
  EXPECT_NEAR(this->blob_top_loss_->cpu_data()[0], expected,
              1e-5 * std::max(1.0, expected));
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
    p->set_semantics(
        static_cast<RankedListLossParameter_Semantics>(semantics[s]));
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
    ASSERT_EQ(0, RllC(&c, this->blob_bottom_data_->cpu_data(),
                      this->blob_bottom_y_->cpu_data(), 9, 4, &loss, &grad[0]))
        << rll_last_error();
    // CPU mode: the same engine, the same result. GPU mode: the device kernels,
    // which sum in another order.
    const bool gpu = Caffe::mode() == Caffe::GPU;
    const double tol = gpu ? (sizeof(Dtype) == 4 ? 1e-5 : 1e-12) : 1e-6;
    if (gpu) {
      EXPECT_NEAR(loss, this->blob_top_loss_->cpu_data()[0],
                  tol * std::fabs(loss))
          << "semantics " << s;
    } else {
      EXPECT_EQ(loss, this->blob_top_loss_->cpu_data()[0]) << "semantics " << s;
    }
    for (int k = 0; k < 9 * 4; ++k) {
      // The layer scales the unit-weight gradient by the loss weight 2.5.
      EXPECT_NEAR(this->blob_bottom_data_->cpu_diff()[k], Dtype(2.5) * grad[k],
                  tol * std::max(Dtype(1), std::fabs(grad[k])))
          << "semantics " << s << " k " << k;
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
  checker.CheckGradientExhaustive(&layer, this->blob_bottom_vec_,
                                  this->blob_top_vec_, 0);
}

TYPED_TEST(RankedListLossLayerTest, TestGradientPaperWithPositiveWeights) {
  typedef typename TypeParam::Dtype Dtype;
  LayerParameter layer_param;
  layer_param.mutable_ranked_list_loss_param()->set_t_p(3);
  layer_param.mutable_ranked_list_loss_param()->set_lambda(0.5);
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  GradientChecker<Dtype> checker(1e-2, 1e-2, 1701);
  checker.CheckGradientExhaustive(&layer, this->blob_bottom_vec_,
                                  this->blob_top_vec_, 0);
}

// The C ABI's queries against references, per Dtype.
inline int RllRefs(const rll_params* p, const float* x, const float* y, int n,
                   const float* rx, const float* ry, int nr, int d,
                   const int64_t* own, float* loss, float* grad) {
  return rll_loss_references_f32(p, x, y, n, rx, ry, nr, d, own, 1.0f, loss,
                                 grad, NULL);
}
inline int RllRefs(const rll_params* p, const double* x, const double* y, int n,
                   const double* rx, const double* ry, int nr, int d,
                   const int64_t* own, double* loss, double* grad) {
  return rll_loss_references_f64(p, x, y, n, rx, ry, nr, d, own, 1.0, loss,
                                 grad, NULL);
}

// memory_size: each Forward enqueues the batch, then ranks it against the
// filled queue (own copies left out); loss and gradient equal the C ABI's on
// a queue tracked here, over batches that fill the queue and wrap around it.
// (GradientChecker does not apply: the memory's copies are detached by
// design, so the loss's full derivative is not the layer's gradient.)
TYPED_TEST(RankedListLossLayerTest, TestMemoryRanksTheBatchAgainstTheQueue) {
  typedef typename TypeParam::Dtype Dtype;
  const int memory = 20, num = 9, dim = 4;
  LayerParameter layer_param;
  layer_param.mutable_ranked_list_loss_param()->set_memory_size(memory);
  layer_param.mutable_ranked_list_loss_param()->set_t_p(1);
  layer_param.add_loss_weight(2);
  RankedListLossLayer<Dtype> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  vector<Dtype> queue(memory * dim), queue_y(memory);
  int next = 0, filled = 0;
  FillerParameter filler_param;
  filler_param.set_min(-0.45);
  filler_param.set_max(0.45);
  UniformFiller<Dtype> filler(filler_param);
  rll_params c;
  rll_params_default(&c);
  c.t_p = 1;
  for (int step = 0; step < 4; ++step) {
    filler.Fill(this->blob_bottom_data_);
    for (int i = 0; i < num; ++i) {
      this->blob_bottom_y_->mutable_cpu_data()[i] = (i + step) % 3;
    }
    layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
    vector<bool> down(2, false);
    down[0] = true;
    layer.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_);
    const Dtype* x = this->blob_bottom_data_->cpu_data();
    const Dtype* y = this->blob_bottom_y_->cpu_data();
    vector<int64_t> own(num);
    for (int i = 0; i < num; ++i) {
      own[i] = (next + i) % memory;
      std::copy(x + i * dim, x + (i + 1) * dim, &queue[own[i] * dim]);
      queue_y[own[i]] = y[i];
    }
    next = (next + num) % memory;
    filled = std::min(memory, filled + num);
    Dtype loss;
    vector<Dtype> grad(num * dim);
    ASSERT_EQ(0, RllRefs(&c, x, y, num, &queue[0], &queue_y[0], filled, dim,
                         &own[0], &loss, &grad[0]))
        << rll_last_error();
    const bool gpu = Caffe::mode() == Caffe::GPU;
    const double tol = gpu ? (sizeof(Dtype) == 4 ? 1e-5 : 1e-12) : 0;
    EXPECT_NEAR(loss, this->blob_top_loss_->cpu_data()[0],
                tol * std::fabs(loss))
        << "step " << step;
    for (int k = 0; k < num * dim; ++k) {
      EXPECT_NEAR(this->blob_bottom_data_->cpu_diff()[k], Dtype(2) * grad[k],
                  std::max(tol, 1e-7) * std::max(Dtype(1), std::fabs(grad[k])))
          << "step " << step << " k " << k;
    }
  }
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

// Spec B.3's worked example through the original layer type: every printed
// digit of the V2020 gradient.
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
  const double expected[8] = {0.030147619,  0.012487429, 0.025888240,
                              0.019864889,  0.193858614, -0.032334741,
                              -0.000135825, 0.0};
  // double: every printed digit (9 decimals); float: float32 rounding of inputs
  // and arithmetic.
  const double tol = sizeof(Dtype) == 8 ? 8e-10 : 2e-6;
  for (int k = 0; k < 8; ++k)
    EXPECT_NEAR(x.cpu_diff()[k], expected[k], tol) << "k = " << k;
  EXPECT_NEAR(loss.cpu_data()[0], 0.306659043,
              sizeof(Dtype) == 8 ? 1e-8 : 2e-6);
  // With margin set, the same layer follows V2019.
  layer_param.mutable_contrastive_loss_param_v2()->set_margin(1.2);
  DistanceWeightedValidPairLossV12Layer<Dtype> v2019(layer_param);
  v2019.SetUp(bottom, top);
  v2019.Forward(bottom, top);
  v2019.Backward(top, down, bottom);
  const double expected2019[8] = {0.045753175,  -0.045753174, -0.016746824,
                                  0.062499999,  0.403786850,  -0.016737726,
                                  -0.000235256, 0.0};
  for (int k = 0; k < 8; ++k)
    EXPECT_NEAR(x.cpu_diff()[k], expected2019[k], tol) << "k = " << k;
}

// The GR handles: a solver that moves negative_threshold, pn_margin, scale_p
// and scale_n (as the 2020 release's SGDSolver does) makes the next Forward
// compute what a layer built with those values computes, in V2020 and in V2019
// (where negative_threshold is alpha, stored in
// contrastive_loss_param_v2.margin).
TYPED_TEST(RankedListLossLayerTest,
           TestOriginalLayerFollowsItsScheduleHandles) {
  typedef typename TypeParam::Dtype Dtype;
  for (int v2019 = 0; v2019 < 2; ++v2019) {
    LayerParameter moved, built;
    for (LayerParameter* p : {&moved, &built}) {
      p->set_type("DistanceWeightedValidPairLossV12");
      if (v2019) p->mutable_contrastive_loss_param_v2()->set_margin(1.2);
    }
    moved.mutable_contrastive_loss_param_v2()->set_pn_margin(0.4);
    moved.mutable_softmax_t_p_param()->set_scale(0);
    moved.mutable_softmax_t_n_param()->set_scale(10);
    built.mutable_contrastive_loss_param_v2()->set_pn_margin(0.3);
    built.mutable_softmax_t_p_param()->set_scale(1);
    built.mutable_softmax_t_n_param()->set_scale(12);
    if (v2019) {
      built.mutable_contrastive_loss_param_v2()->set_margin(1.1);
    } else {
      built.mutable_contrastive_loss_param_v2()->set_negative_threshold(1.1);
    }
    DistanceWeightedValidPairLossV12Layer<Dtype> a(moved), b(built);
    a.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
    EXPECT_FLOAT_EQ(a.negative_threshold, 1.2);
    EXPECT_FLOAT_EQ(a.pn_margin, 0.4);
    EXPECT_FLOAT_EQ(a.scale_n, 10);
    const Dtype before = a.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
    a.negative_threshold = 1.1;
    a.pn_margin = 0.3;
    a.scale_p = 1;
    a.scale_n = 12;
    const Dtype after = a.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
    vector<bool> down(2, false);
    down[0] = true;
    a.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_);
    vector<Dtype> diff_a(
        this->blob_bottom_data_->cpu_diff(),
        this->blob_bottom_data_->cpu_diff() + this->blob_bottom_data_->count());
    b.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
    const Dtype expected =
        b.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
    b.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_);
    EXPECT_NE(before, after) << "moving the handles must change the loss";
    EXPECT_EQ(after, expected) << "v2019 = " << v2019;
    for (int k = 0; k < this->blob_bottom_data_->count(); ++k) {
      EXPECT_EQ(diff_a[k], this->blob_bottom_data_->cpu_diff()[k])
          << "k = " << k;
    }
  }
}

typedef RankedListLossLayerTest<CPUDevice<double> >
    RankedListLossLayerDeathTest;

TEST_F(RankedListLossLayerDeathTest, TestLabelCountMismatchIsRefused) {
  Blob<double> labels(9, 2, 1, 1);
  this->blob_bottom_vec_[1] = &labels;
  LayerParameter layer_param;
  layer_param.set_name("loss_h");
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "RankedListLoss layer 'loss_h': bottom\\[1\\] \\(labels\\) has "
               "18 values \\(shape 9 2 1 1 \\(18\\)\\) "
               "but bottom\\[0\\] \\(features\\) has 9 samples");
}

TEST_F(RankedListLossLayerDeathTest, TestFirstAxisMismatchIsNamed) {
  // Checked by our layer before LossLayer's own CHECK on the first axes, so
  // that pycaffe and matcaffe get an exception instead of an abort.
  Blob<double> labels(8, 1, 1, 1);
  this->blob_bottom_vec_[1] = &labels;
  LayerParameter layer_param;
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "bottom\\[1\\] \\(labels\\) has 8 values \\(shape 8 1 1 1 "
               "\\(8\\)\\) but bottom\\[0\\] \\(features\\) has 9 samples");
  Blob<double> across(1, 9, 1, 1);  // nine labels, but along the second axis
  this->blob_bottom_vec_[1] = &across;
  RankedListLossLayer<double> layer2(layer_param);
  EXPECT_DEATH(layer2.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "bottom\\[1\\] \\(labels\\) has 9 values \\(shape 1 9 1 1 "
               "\\(9\\)\\) but bottom\\[0\\] \\(features\\) has 9 samples");
}

TEST_F(RankedListLossLayerDeathTest, TestNonFiniteFeatureIsNamed) {
  this->blob_bottom_data_->mutable_cpu_data()[4 * 2 + 1] = NAN;
  LayerParameter layer_param;
  layer_param.set_name("loss_m");
  RankedListLossLayer<double> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  EXPECT_DEATH(
      layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_),
      "RankedListLoss layer 'loss_m': x\\[2\\]\\[1\\] = NaN is not finite");
}

TEST_F(RankedListLossLayerDeathTest, TestBadParameterIsNamed) {
  LayerParameter layer_param;
  layer_param.set_name("loss_l");
  layer_param.mutable_ranked_list_loss_param()->set_margin(-1);
  RankedListLossLayer<double> layer(layer_param);
  EXPECT_DEATH(layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_),
               "RankedListLoss layer 'loss_l': bad parameters: layer 'loss_l': "
               "margin = -1 is negative");
}

TEST_F(RankedListLossLayerDeathTest, TestLabelsGetNoGradient) {
  LayerParameter layer_param;
  RankedListLossLayer<double> layer(layer_param);
  layer.SetUp(this->blob_bottom_vec_, this->blob_top_vec_);
  layer.Forward(this->blob_bottom_vec_, this->blob_top_vec_);
  vector<bool> down(2, true);
  EXPECT_DEATH(
      layer.Backward(this->blob_top_vec_, down, this->blob_bottom_vec_),
      "cannot backpropagate to label inputs");
  EXPECT_FALSE(layer.AllowForceBackward(1));
}

#ifndef CPU_ONLY
// CPU mode against GPU mode inside Caffe (float): one net with the paper's
// three heads (here an un-normalised head with every negative inside the
// margin, and two L2-normalised ones), the same input blobs through
// Forward/Backward in each mode; the losses and the diffs of every input agree
// within 1e-5 of the largest magnitude, for every semantics and the original
// layer type, at the paper's shapes 60x512 and 180x512.
class RankedListLossCpuGpuTest : public ::testing::Test {
 protected:
  static std::string NetText(int n, int d, const std::string& loss) {
    std::ostringstream t;
    t << "force_backward: true\n"
      << "layer { name: 'in' type: 'Input' top: 'e_l' top: 'e_m' top: 'e_h' "
         "top: 'label'\n"
      << "  input_param { shape { dim: " << n << " dim: " << d
      << " } shape { dim: " << n << " dim: " << d << " } shape { dim: " << n
      << " dim: " << d << " } shape { dim: " << n << " } } }\n"
      << "layer { name: 'norm_m' type: 'Normalization' bottom: 'e_m' top: "
         "'n_m' }\n"
      << "layer { name: 'norm_h' type: 'Normalization' bottom: 'e_h' top: "
         "'n_h' }\n";
    const char* heads[3][3] = {
        {"l", "e_l", "0.3"}, {"m", "n_m", "0.3"}, {"h", "n_h", "1"}};
    for (int h = 0; h < 3; ++h) {
      t << "layer { name: 'loss_" << heads[h][0] << "' bottom: '" << heads[h][1]
        << "' bottom: 'label' top: 'loss_" << heads[h][0]
        << "' loss_weight: " << heads[h][2] << " " << loss << " }\n";
    }
    return t.str();
  }

  // A P x K batch (K = 3): a shared component, a class centre and noise of a
  // per-class level in [0.6, 1.4], so that pairs lie on both sides of the set
  // boundaries; e_l is scaled to norm 0.5 (every negative active: the dense
  // case), e_m and e_h keep a raw scale (their Normalization layers make them
  // unit).
  static void Fill(Net<float>* net, int n, int d, int seed) {
    Caffe::set_random_seed(seed);
    vector<float> shared(d), centre(d), noise(d);
    float level = 1;
    caffe_rng_gaussian<float>(d, 0, 1, &shared[0]);
    const char* names[3] = {"e_l", "e_m", "e_h"};
    for (int b = 0; b < 3; ++b) {
      float* x = net->blob_by_name(names[b])->mutable_cpu_data();
      for (int i = 0; i < n; ++i) {
        if (i % 3 == 0) {
          caffe_rng_gaussian<float>(d, 0, 1, &centre[0]);
          caffe_rng_uniform<float>(1, 0.6, 1.4, &level);
        }
        caffe_rng_gaussian<float>(d, 0, level, &noise[0]);
        double norm = 0;
        for (int k = 0; k < d; ++k) {
          x[i * d + k] = shared[k] + centre[k] + noise[k];
          norm += static_cast<double>(x[i * d + k]) * x[i * d + k];
        }
        const double scale = b == 0 ? 0.5 / std::sqrt(norm)
                                    : 3.0 / std::sqrt(static_cast<double>(d));
        for (int k = 0; k < d; ++k) x[i * d + k] *= scale;
      }
    }
    float* y = net->blob_by_name("label")->mutable_cpu_data();
    for (int i = 0; i < n; ++i) y[i] = i / 3;
  }

  // The smallest relative distance of any pair of the loss layers' inputs (e_l
  // as is, e_m and e_h made unit, in double) to the set boundaries b1, b2. A
  // pair within float32 rounding of a boundary may join a set in one mode and
  // not in the other, and the loss jumps there: such a draw is no test of the
  // kernels.
  static double BoundaryGap(Net<float>* net, int n, int d, double b1,
                            double b2) {
    double gap = 1e9;
    const char* names[3] = {"e_l", "e_m", "e_h"};
    vector<double> x(n * d);
    for (int b = 0; b < 3; ++b) {
      const float* src = net->blob_by_name(names[b])->cpu_data();
      for (int i = 0; i < n; ++i) {
        double norm = 0;
        for (int k = 0; k < d; ++k)
          norm += static_cast<double>(src[i * d + k]) * src[i * d + k];
        const double s = b == 0 ? 1 : 1 / std::sqrt(norm);
        for (int k = 0; k < d; ++k) x[i * d + k] = src[i * d + k] * s;
      }
      for (int i = 0; i < n; ++i) {
        for (int j = i + 1; j < n; ++j) {
          double s2 = 0;
          for (int k = 0; k < d; ++k)
            s2 += (x[i * d + k] - x[j * d + k]) * (x[i * d + k] - x[j * d + k]);
          const double dist = std::sqrt(s2);
          gap = std::min(gap, std::min(std::fabs(dist - b1) / b1,
                                       std::fabs(dist - b2) / b2));
        }
      }
    }
    return gap;
  }

  struct Run {
    vector<float> losses;
    vector<vector<float> > diffs;
  };
  static Run ForwardBackward(Net<float>* net) {
    net->Forward();
    net->Backward();
    Run r;
    const char* losses[3] = {"loss_l", "loss_m", "loss_h"};
    const char* inputs[3] = {"e_l", "e_m", "e_h"};
    for (int h = 0; h < 3; ++h) {
      r.losses.push_back(net->blob_by_name(losses[h])->cpu_data()[0]);
      const shared_ptr<Blob<float> > e = net->blob_by_name(inputs[h]);
      r.diffs.push_back(
          vector<float>(e->cpu_diff(), e->cpu_diff() + e->count()));
    }
    return r;
  }

  // b1, b2: the loss's set boundaries (positives beyond b1, negatives within
  // b2).
  static void Agree(const std::string& loss, double b1, double b2) {
    const int shapes[2][2] = {{60, 512}, {180, 512}};
    for (int s = 0; s < 2; ++s) {
      const int n = shapes[s][0], d = shapes[s][1];
      NetParameter param;
      CHECK(google::protobuf::TextFormat::ParseFromString(NetText(n, d, loss),
                                                          &param));
      Caffe::set_mode(Caffe::CPU);
      Net<float> net(param);
      int seed = 1701;
      do {
        Fill(&net, n, d, ++seed);
      } while (BoundaryGap(&net, n, d, b1, b2) < 1e-6 && seed < 1701 + 50);
      ASSERT_GE(BoundaryGap(&net, n, d, b1, b2), 1e-6)
          << "no draw away from the set boundaries";
      const Run cpu = ForwardBackward(&net);
      Caffe::set_mode(Caffe::GPU);
      const Run gpu = ForwardBackward(&net);
      for (int h = 0; h < 3; ++h) {
        EXPECT_GT(cpu.losses[h], 0)
            << loss << " " << n << "x" << d << " head " << h;
        const double le =
            std::fabs(gpu.losses[h] - cpu.losses[h]) /
            std::max(1e-30, std::fabs(static_cast<double>(cpu.losses[h])));
        double scale = 1e-30, err = 0;
        for (size_t k = 0; k < cpu.diffs[h].size(); ++k) {
          scale =
              std::max(scale, std::fabs(static_cast<double>(cpu.diffs[h][k])));
          err = std::max(err, std::fabs(static_cast<double>(gpu.diffs[h][k]) -
                                        cpu.diffs[h][k]));
        }
        EXPECT_GT(scale, 1e-20) << loss << " head " << h << ": no gradient";
        EXPECT_LT(le, 1e-5)
            << loss << " " << n << "x" << d << " head " << h << ": loss cpu "
            << cpu.losses[h] << " gpu " << gpu.losses[h];
        EXPECT_LT(err / scale, 1e-5)
            << loss << " " << n << "x" << d << " head " << h;
        std::cout << "[ cpu-gpu  ] " << n << "x" << d << " head " << h << " "
                  << loss << ": loss " << cpu.losses[h]
                  << ", relative error loss " << le << ", diff " << err / scale
                  << std::endl;
      }
    }
    Caffe::set_mode(Caffe::CPU);
  }
};

TEST_F(RankedListLossCpuGpuTest, TestPaper) {
  Agree("type: 'RankedListLoss'", 0.8, 1.2);
  Agree("type: 'RankedListLoss' ranked_list_loss_param { t_p: 2 lambda: 0.5 }",
        0.8, 1.2);
  Agree("type: 'RankedListLoss' ranked_list_loss_param { query_only: true }",
        0.8, 1.2);
}

TEST_F(RankedListLossCpuGpuTest, TestOfficialV2020) {
  Agree(
      "type: 'RankedListLoss' ranked_list_loss_param { semantics: "
      "OFFICIAL_V2020 }",
      0.8, 1.2);
}

TEST_F(RankedListLossCpuGpuTest, TestOfficialV2019) {
  Agree(
      "type: 'RankedListLoss' ranked_list_loss_param { semantics: "
      "OFFICIAL_V2019 margin: 0.3 alpha: 1.1 }",
      0.8, 1.1);
}

TEST_F(RankedListLossCpuGpuTest, TestOriginalLayerType) {
  Agree(
      "type: 'DistanceWeightedValidPairLossV12' contrastive_loss_param_v2 { "
      "pn_margin: 0.2 }",
      0.9, 1.1);
}
#endif  // CPU_ONLY

}  // namespace caffe
