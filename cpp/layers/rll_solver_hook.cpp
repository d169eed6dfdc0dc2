#include <cmath>
#include <sstream>
#include <string>

#include "caffe/common.hpp"
#include "caffe/layers/rll_solver_hook.hpp"

namespace caffe {

void RllCheckGrSchedule(const SolverParameter& solver,
                        const LayerParameter& last_layer) {
  if (!solver.has_negative_threshold() && !solver.has_pn_margin() &&
      !solver.has_p_temperature() && !solver.has_n_temperature()) {
    return;
  }
  float tau, m, t_p, t_n;
  if (last_layer.type() == "DistanceWeightedValidPairLossV12") {
    const ContrastiveLossParameterV2& c =
        last_layer.contrastive_loss_param_v2();
    tau = c.has_margin() ? c.margin() : c.negative_threshold();
    m = c.pn_margin();
    t_p = last_layer.softmax_t_p_param().scale();
    t_n = last_layer.softmax_t_n_param().scale();
  } else if (last_layer.type() == "RankedListLoss") {
    const RankedListLossParameter& p = last_layer.ranked_list_loss_param();
    tau = p.alpha();
    m = p.margin();
    t_p = p.t_p();
    t_n = p.t_n();
  } else {
    return;
  }
  std::ostringstream differ;
  const struct {
    bool set;
    float target;
    float value;
    const char* name;
  } fields[] = {
      {solver.has_negative_threshold(), solver.negative_threshold(), tau,
       "negative_threshold"},
      {solver.has_pn_margin(), solver.pn_margin(), m, "pn_margin"},
      {solver.has_p_temperature(), solver.p_temperature(), t_p,
       "p_temperature"},
      {solver.has_n_temperature(), solver.n_temperature(), t_n,
       "n_temperature"},
  };
  for (int i = 0; i < 4; ++i) {
    if (fields[i].set &&
        std::fabs(fields[i].target - fields[i].value) > 1e-6f) {
      differ << " " << fields[i].name << " " << fields[i].target
             << " (layer: " << fields[i].value << ")";
    }
  }
  static bool warned = false;
  if (!differ.str().empty() && !warned) {
    warned = true;
    LOG(WARNING) << "Solver targets differ from layer '" << last_layer.name()
                 << "':" << differ.str()
                 << ". The 2020 release's schedule toward them is not "
                    "implemented: training keeps the layer's "
                 << "values.";
  }
}

}  // namespace caffe
