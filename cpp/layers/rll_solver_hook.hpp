#ifndef CAFFE_RLL_SOLVER_HOOK_HPP_
#define CAFFE_RLL_SOLVER_HOOK_HPP_

#include "caffe/proto/caffe.pb.h"

namespace caffe {

/**
 * The 2020 RLL release moved the last layer's tau, m, T_p and T_n toward the
 * solver's negative_threshold, pn_margin, p_temperature and n_temperature over
 * the run (the "GR" schedule). This port parses those solver fields but does
 * not schedule: it warns once, naming each field, when a solver sets a target
 * that differs from the value of its net's last layer (no shipped configuration
 * does). Called by Solver::Init (caffe_patch/apply).
 */
void RllCheckGrSchedule(const SolverParameter& solver,
                        const LayerParameter& last_layer);

}  // namespace caffe

#endif  // CAFFE_RLL_SOLVER_HOOK_HPP_
