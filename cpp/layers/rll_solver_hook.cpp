#include <cmath>
#include <sstream>
#include <string>

#include "caffe/common.hpp"
#include "caffe/layers/rll_bridge.hpp"
#include "caffe/layers/rll_solver_hook.hpp"

namespace caffe {

void RllCheckGrSchedule(const SolverParameter& solver,
                        const LayerParameter& last_layer) {
  if (!solver.has_negative_threshold() && !solver.has_pn_margin() &&
      !solver.has_p_temperature() && !solver.has_n_temperature()) {
    return;
  }
  if (last_layer.type() != "DistanceWeightedValidPairLossV12" &&
      last_layer.type() != "RankedListLoss") {
    return;
  }
  // The layer's values as the engine reads them (tau from the field it is
  // read from); a bad layer is reported by the layer itself.
  std::string bytes;
  last_layer.SerializeToString(&bytes);
  rll::ScheduleValues v;
  try {
    v = rll::schedule_values(rll_bridge::Bytes(bytes));
  } catch (const rust::Error&) {
    return;
  }
  const float tau = v.tau, m = v.margin, t_p = v.t_p, t_n = v.t_n;
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
