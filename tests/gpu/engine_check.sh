#!/usr/bin/env bash
# Everything the GPU path needs checked, in one run on a machine with an NVIDIA GPU (docs/gpu.md):
# the GPU tests against the CPU path, compute-sanitizer memcheck and racecheck on a small case, a C++ program using
# cudaMalloc and two streams through the C ABI, the benchmark table, and the PyTorch package on CUDA. Artifacts come from `make gpu-bundle`
# (built on the CPU machine: the GPU machine has no Rust), in .gpu_bundle/. Output: $OUT (default gpu_out/ in the repository).
set -uo pipefail
cd "$(dirname "$0")/../.."
B=.gpu_bundle
OUT=${OUT:-$PWD/gpu_out}
TMP=$(mktemp -d)  # built and installed here, not in $OUT: only the log comes back
mkdir -p "$OUT"
status=0
step() { echo; echo "=== $*"; }
run() { "$@" || { echo "FAILED ($?): $*"; status=1; }; }
export LD_LIBRARY_PATH="$PWD/$B:${LD_LIBRARY_PATH:-}"
{
  step "device"; nvidia-smi -L; nvcc --version | tail -1
  step "GPU tests (tests/gpu.rs)"; run "$B/gpu_tests" --test-threads 1
  step "compute-sanitizer memcheck"; run compute-sanitizer --tool memcheck --error-exitcode 9 "$B/gpu_small"
  step "compute-sanitizer racecheck"; run compute-sanitizer --tool racecheck --error-exitcode 9 "$B/gpu_small"
  step "C++: cudaMalloc, default and created streams"
  run nvcc -O2 -o "$TMP/streams_test" tests/gpu/streams_test.cpp -Icpp/include -L"$B" -lranked_list_loss \
    -Xlinker -rpath="$PWD/$B"
  run "$TMP/streams_test"
  step "benchmark"
  python3 -m pip install -q --no-index --no-deps --target "$TMP/site" "$B"/*.whl \
    && export PYTHONPATH="$TMP/site"
  run python3 bench/gpu_bench.py --lib "$B/libranked_list_loss.so"
  step "PyTorch package on CUDA (tests/gpu/torch_check.py)"
  python3 -m zipfile -e "$B"/wheel/ranked_list_loss-*.whl "$TMP/site" \
    && run python3 tests/gpu/torch_check.py
  step "distributed=True on NCCL, a world of 1 (tests/gpu/nccl_check.py)"
  run python3 tests/gpu/nccl_check.py
  step "gpu_check: $([ $status = 0 ] && echo all passed || echo FAILURES)"
  exit $status
} 2>&1 | tee "$OUT/gpu_check.log"
# The block ran in a pipeline's subshell: its exit status is the check's.
exit "${PIPESTATUS[0]}"
