#!/usr/bin/env bash
# The whole GPU check in one call on a machine with an NVIDIA GPU (docs/gpu.md): the engine's (tests/gpu/engine_check.sh:
# GPU tests against the CPU path, close pairs, compute-sanitizer, C++ streams, benchmark) and Caffe's
# (tests/gpu/caffe_gpu_check.sh). Needs .gpu_bundle from `make gpu-bundle`. Output in $OUT (default gpu_out/):
# gpu_check.log, caffe_gpu_check.log, caffe_gpu_summary.md, caffe_logs.tar.gz. Sized to finish in under 8 minutes.
set -uo pipefail
cd "$(dirname "$0")/../.."
export OUT=${OUT:-$PWD/gpu_out}
start=$(date +%s)
bash tests/gpu/engine_check.sh; engine=$?
bash tests/gpu/caffe_gpu_check.sh; caffe=$?
echo
echo "=== check_all: engine $([ $engine = 0 ] && echo passed || echo FAILED), caffe $([ $caffe = 0 ] && echo passed || echo FAILED), $(( $(date +%s) - start )) s"
[ $engine = 0 ] && [ $caffe = 0 ]
