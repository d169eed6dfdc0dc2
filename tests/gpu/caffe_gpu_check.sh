#!/usr/bin/env bash
# The Caffe side of the GPU check, in one run on a machine with an NVIDIA GPU and no Debian packages (the GPU
# machine lent here: nvcc, CUDA 13 libraries in its Python environment, numpy, h5py, compute-sanitizer). What it
# runs comes from `make gpu-bundle` (.gpu_bundle/caffe.tar.xz: the CUDA build of the patched Caffe, our gtests
# and every library they need that is not glibc or libstdc++; the CUDA libraries are the machine's own):
#   1. caffe device_query;
#   2. our gtests with GPUDevice<float>/<double> types (GradientChecker for PAPER and Normalization, the closed
#      form and the C ABI for every semantics) and CPU mode against GPU mode inside Caffe (RankedListLossCpuGpuTest:
#      a three-head net at 60x512 and 180x512, every semantics and the original layer type, within 1e-5);
#   3. `caffe train` in GPU mode: the tiny net, and the original-style GoogLeNet-BN (three
#      DistanceWeightedValidPairLossV12 heads, GR solver fields) on a fixed set of random images: loss finite, falling;
#   4. `caffe time` in CPU and GPU mode: the loss heads alone at 180x512, GoogLeNet-BN at batch 180 (our layers' share);
#   5. compute-sanitizer memcheck over a short GPU `caffe train` and a `caffe time` of the three heads.
# Output: $OUT (default gpu_out/): caffe_gpu_check.log, caffe_gpu_summary.md, caffe_logs.tar.gz (every step's log).
# RLL_CHECK_MODE=CPU (make gpu-check-dry) runs what a machine without a GPU can, to prove the bundle resolves and
# trains: steps 3-4 in CPU mode, the tiny net trained until its loss falls, GoogLeNet-BN a few iterations (finite
# losses; falling is checked on the GPU), the heads timed.
set -uo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
B=$REPO/.gpu_bundle
OUT=${OUT:-$REPO/gpu_out}
MODE=${RLL_CHECK_MODE:-GPU}
WORK=${RLL_CHECK_WORK:-$REPO/build/caffe-gpu-check-work}
mkdir -p "$OUT"
rm -rf "$WORK" && mkdir -p "$WORK/logs"
SUMMARY=$OUT/caffe_gpu_summary.md
status=0
step() { echo; echo "=== $* ($(date +%H:%M:%S))"; }
fail() { echo "FAILED: $*"; status=1; }
# log NAME DIR CMD...: runs CMD in DIR with its output in $WORK/logs/NAME.log; a failure is counted, its tail shown.
log() {
  local name=$1 dir=$2; shift 2
  (cd "$dir" && "$@") >"$WORK/logs/$name.log" 2>&1
  local rc=$?
  if [ $rc != 0 ]; then tail -25 "$WORK/logs/$name.log"; fail "($rc) $*"; fi
  return $rc
}
if [ "$MODE" = GPU ]; then GPU=(-gpu 0); else GPU=(); fi

{
  echo "# Caffe GPU check ($MODE mode), $(date -u +%Y-%m-%dT%H:%MZ)" >"$SUMMARY"
  step "unpack the Caffe bundle"
  tar -xJf "$B/caffe.tar.xz" -C "$WORK" 2>/dev/null ||
    python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$B/caffe.tar.xz" "$WORK" ||
    { fail "no bundle: run make gpu-bundle on the build machine"; exit 1; }
  C=$WORK/caffe
  cat "$C/BUILD_INFO"
  # The CUDA 13 libraries of this machine: its toolkit's, else its Python environment's wheels.
  cuda_libs=${RLL_CUDA_LIBS:-}
  if [ -z "$cuda_libs" ]; then
    roots="/usr/local/cuda/ $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)"
    for need in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10; do
      f=$(find $roots -name "$need" 2>/dev/null | head -1)
      if [ -n "$f" ]; then cuda_libs="$cuda_libs:$(dirname "$f")"; else echo "no $need on this machine"; fi
    done
  fi
  export LD_LIBRARY_PATH="$C/lib$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export GLOG_logtostderr=1
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  missing=$(ldd "$C/tools/caffe.bin" "$C"/test/*.testbin | grep "not found" | sort -u)
  if [ -n "$missing" ]; then echo "$missing"; fail "libraries not found"; else echo "every library found"; fi
  # Everything but the machine's own libraries (glibc, the C++ runtime, CUDA: the bundle's MACHINE_LIBS, as
  # tests/gpu/bundle_caffe.sh packed it) must come from the bundle.
  outside=$(ldd "$C/tools/caffe.bin" "$C"/test/*.testbin | awk -v c="$C/lib/" '$2 == "=>" && index($3, c) != 1 {print $1}' |
    grep -vE -f "$C/MACHINE_LIBS" | sort -u | tr '\n' ' ')
  if [ -n "$outside" ]; then fail "not in the bundle: $outside"; else echo "every other library from the bundle"; fi

  step "inputs (numpy, h5py)"
  if [ "$MODE" = GPU ]; then
    sizes=(); window=20; below=0.95
  else
    # Four GoogLeNet-BN iterations on the CPU: every loss finite (a ratio bound no finite run exceeds).
    sizes=(--iters 4 --tiny-iters 60 --batch 6 --images 12 --time-batch 12); window=2; below=1e30
  fi
  python3 tests/gpu/caffe_inputs.py "$WORK/in" --mode "$MODE" "${sizes[@]}" || fail "inputs"

  if [ "$MODE" = GPU ]; then
    step "caffe device_query"
    log device_query "$WORK" "$C/tools/caffe.bin" device_query -gpu 0 && grep -E "Device id|Major|Minor|Name|Total global" \
      "$WORK/logs/device_query.log" | sed 's/^.*\] *//'
    echo "device: $(nvidia-smi -L | head -1)" >>"$SUMMARY"

    step "gtests: our layers with CPU and GPU device types, CPU mode against GPU mode"
    for t in ranked_list_loss normalization; do
      # Death tests re-run the binary (threadsafe) rather than fork a process that holds a CUDA context.
      log "gtest_$t" "$C" "test/test_${t}_layer.testbin" --gtest_color=no --gtest_death_test_style=threadsafe
      n_gpu=$("$C/test/test_${t}_layer.testbin" --gtest_list_tests | grep -c GPUDevice)
      passed=$(grep -o "\[  PASSED  \] [0-9]* tests" "$WORK/logs/gtest_$t.log" | grep -o "[0-9]*")
      grep -E "^\[ +(OK|FAILED) +\]|PASSED|FAILED" "$WORK/logs/gtest_$t.log" | tail -60
      echo "- gtest $t: ${passed:-0} tests passed (typed cases with GPUDevice: $n_gpu); log gtest_$t.log" >>"$SUMMARY"
    done
    grep "\[ cpu-gpu  \]" "$WORK/logs/gtest_ranked_list_loss.log" | tee "$WORK/logs/cpu_gpu.txt"
    [ -s "$WORK/logs/cpu_gpu.txt" ] || fail "RankedListLossCpuGpuTest printed no result"
    python3 - "$WORK/logs/cpu_gpu.txt" >>"$SUMMARY" <<'PY'
import re, sys
rows = [l for l in open(sys.argv[1])]
loss = [float(m) for l in rows for m in re.findall(r"relative error loss ([0-9.e+-]+)", l)]
diff = [float(m) for l in rows for m in re.findall(r", diff ([0-9.e+-]+)", l)]
if rows:
    print(f"- CPU mode against GPU mode (three heads, 60x512 and 180x512, {len(rows)} head runs): largest relative "
          f"error of a loss {max(loss):.2e}, of an input diff {max(diff):.2e} (bound 1e-5)")
else:
    print("- CPU mode against GPU mode: NO RESULT")
PY
  fi

  step "caffe train: the tiny net ($MODE)"
  log train_tiny "$WORK/in/tiny" "$C/tools/caffe.bin" train -solver solver.prototxt "${GPU[@]}"
  r=$(python3 tests/gpu/caffe_logs.py train "$WORK/logs/train_tiny.log" --window 10 --below 0.7) || fail "tiny net"
  echo "$r"; echo "- caffe train, tiny net ($MODE): $r" >>"$SUMMARY"

  step "caffe train: original-style GoogLeNet-BN, three DistanceWeightedValidPairLossV12 heads ($MODE)"
  t0=$(date +%s)
  log train_googlenet "$WORK/in/googlenet" "$C/tools/caffe.bin" train -solver solver.prototxt "${GPU[@]}"
  r=$(python3 tests/gpu/caffe_logs.py train "$WORK/logs/train_googlenet.log" --window $window --below $below) ||
    fail "GoogLeNet-BN"
  grep "Train net output" "$WORK/logs/train_googlenet.log" | tail -3 | sed 's/^.*\] *//'
  echo "$r ($(( $(date +%s) - t0 )) s)"
  echo "- caffe train, GoogLeNet-BN original-style, batch $(grep -o 'batch_size: [0-9]*' \
    "$WORK/in/googlenet/train.prototxt" | grep -o '[0-9]*') ($MODE): $r, $(( $(date +%s) - t0 )) s" >>"$SUMMARY"

  step "caffe time: our layers' share of the iteration"
  echo >>"$SUMMARY"
  echo "| caffe time | forward+backward | RankedListLoss layers | Normalization layers |" >>"$SUMMARY"
  echo "| --- | --- | --- | --- |" >>"$SUMMARY"
  T=$WORK/in/time
  modes=(CPU); [ "$MODE" = GPU ] && modes=(CPU GPU)
  for m in "${modes[@]}"; do
    flags=(); [ "$m" = GPU ] && flags=(-gpu 0)
    log "time_heads_$m" "$T" "$C/tools/caffe.bin" time -model heads.prototxt -iterations 50 "${flags[@]}" &&
      python3 "$REPO/tests/gpu/caffe_logs.py" time "$WORK/logs/time_heads_$m.log" --label "three heads alone, 180x512, $m" \
        --ours loss norm | tee -a "$SUMMARY"
  done
  if [ "$MODE" = GPU ]; then
    log time_googlenet_GPU "$T" "$C/tools/caffe.bin" time -model googlenet.prototxt -iterations 10 -gpu 0 &&
      python3 "$REPO/tests/gpu/caffe_logs.py" time "$WORK/logs/time_googlenet_GPU.log" \
        --label "GoogLeNet-BN, batch 180, GPU" --ours WSiamese/loss norm | tee -a "$SUMMARY"
  fi
  # On the CPU a GoogLeNet-BN iteration at batch 180 takes long: two iterations, given at most 150 s (GPU machine).
  if [ "$MODE" = CPU ]; then
    echo "| GoogLeNet-BN, CPU | not timed in the dry run |" | tee -a "$SUMMARY"
  elif (cd "$T" && timeout 150 "$C/tools/caffe.bin" time -model googlenet.prototxt -iterations 2) \
    >"$WORK/logs/time_googlenet_CPU.log" 2>&1; then
    python3 "$REPO/tests/gpu/caffe_logs.py" time "$WORK/logs/time_googlenet_CPU.log" \
      --label "GoogLeNet-BN, batch $(grep -o 'batch_size: [0-9]*' "$T/googlenet.prototxt" | grep -o '[0-9]*'), CPU" \
      --ours WSiamese/loss norm | tee -a "$SUMMARY"
  else
    echo "| GoogLeNet-BN, CPU | not finished within 150 s (not a failure) |" | tee -a "$SUMMARY"
  fi

  if [ "$MODE" = GPU ]; then
    step "compute-sanitizer memcheck: a short GPU caffe train (tiny net) and caffe time of the three heads"
    echo >>"$SUMMARY"
    log memcheck_train "$WORK/in/tiny" compute-sanitizer --tool memcheck --error-exitcode 9 \
      "$C/tools/caffe.bin" train -solver solver_short.prototxt -gpu 0
    log memcheck_heads "$T" compute-sanitizer --tool memcheck --error-exitcode 9 \
      "$C/tools/caffe.bin" time -model heads.prototxt -iterations 2 -gpu 0
    for l in memcheck_train memcheck_heads; do
      s=$(grep "ERROR SUMMARY" "$WORK/logs/$l.log" | tail -1)
      echo "$l: ${s:-no summary}"; echo "- compute-sanitizer memcheck, $l: ${s:-NO SUMMARY}" >>"$SUMMARY"
    done
  fi

  step "caffe gpu check: $([ $status = 0 ] && echo all passed || echo FAILURES)"
  echo >>"$SUMMARY"; echo "Result: $([ $status = 0 ] && echo all passed || echo FAILURES)" >>"$SUMMARY"
  cat "$SUMMARY"
  tar -czf "$OUT/caffe_logs.tar.gz" -C "$WORK" logs
  exit $status
} 2>&1 | tee "$OUT/caffe_gpu_check.log"
exit "${PIPESTATUS[0]}"
