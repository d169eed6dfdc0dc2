#!/usr/bin/env bash
# make test-fork FORK=<the authors' CaffeMex_RLL_GR_V03_Simp, as they ship it>: caffe_patch/apply on their own Caffe.
#   1. one apply call upgrades a copy of the pristine fork (a second changes nothing; apply --revert on another copy
#      gives back the pristine tree, byte for byte);
#   2. both the pristine fork ("before", their layer) and the upgraded one ("after", ours) build CPU_ONLY with their
#      Makefile, after tests/fork/cpu_only_fixes.py (what the fork itself needs on Debian 12, not apply's business);
#   3. our layer gtests (GradientChecker included) pass in the upgraded fork;
#   4. their In-shop 2020 train.prototxt (three DistanceWeightedValidPairLossV12 heads, their GR solver fields) trains
#      with the caffe CLI in the upgraded fork, on random images in place of its legacy inputs;
#   5. `caffe time` of the same heads-only net (Normalization -> V12 at N x 512) before and after, with peak memory:
#      a table in build/fork/summary.md.
# Their In-shop prototxt is looked for beside the fork (INSHOP= to point elsewhere). CUDA=1 also builds the upgraded
# fork with CUDA (tests/fork/cuda_build.sh). Nothing is written outside build/fork.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
FORK=$(cd "${1:?usage: test_fork.sh <CaffeMex_RLL_GR_V03_Simp>}" && pwd)
INSHOP=${INSHOP:-$FORK/../InshopClothes_Simp_21042020/60_T10_pn04_v63/train.prototxt}
WORK=$REPO/build/fork
JOBS=${JOBS:-$(nproc)}
SIZES=${SIZES:-60,180,360}
CACHE=${RLL_CACHE:-$HOME/.cache/ranked-list-loss}
log() { printf '[test_fork %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
fail() { log "FAILED: $*"; exit 1; }

[ -f "$FORK/src/caffe/proto/caffe.proto" ] && grep -q "contrastive_loss_param_v2 = 10641" "$FORK/src/caffe/proto/caffe.proto" \
  || fail "$FORK is not the authors' fork (no contrastive_loss_param_v2 = 10641 in its caffe.proto)"
[ -f "$INSHOP" ] || fail "their In-shop train.prototxt not found at $INSHOP (set INSHOP=)"
"$REPO/caffe_patch/need_packages" --caffe time
python3 -c "import numpy, h5py" 2>/dev/null || python3 -m pip install -q numpy h5py
rm -rf "$WORK" && mkdir -p "$WORK"

log "1. apply on a copy of the pristine fork"
cp -a "$FORK" "$WORK/after"
"$REPO/caffe_patch/apply" "$WORK/after" | tee "$WORK/apply.log"
"$REPO/caffe_patch/apply" "$WORK/after" --no-build | grep -q "nothing changed" || fail "a second apply changed the tree"
cp -a "$FORK" "$WORK/revert"
"$REPO/caffe_patch/apply" "$WORK/revert" --no-build >/dev/null
"$REPO/caffe_patch/apply" --revert "$WORK/revert"
diff -r "$FORK" "$WORK/revert" >/dev/null || fail "apply --revert did not give back the pristine fork"
rm -rf "$WORK/revert"
log "   upgraded; second run: nothing changed; revert: byte-identical to the pristine fork"

cp -a "$FORK" "$WORK/before"
export CPATH=/usr/include/hdf5/serial LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/hdf5/serial
export CCACHE_DIR="$CACHE/ccache" CCACHE_MAXSIZE=2G
for t in before after; do
  log "2. CPU_ONLY build of the fork ($t): cpu_only_fixes, make lib tools"
  python3 "$REPO/tests/fork/cpu_only_fixes.py" "$WORK/$t" | sed 's/^/   /'
  CCACHE_BASEDIR="$WORK/$t" make -C "$WORK/$t" -j"$JOBS" CUSTOM_CXX="ccache g++" lib tools >"$WORK/$t.build.log" 2>&1 \
    || { tail -30 "$WORK/$t.build.log"; fail "the $t fork does not build (log: $WORK/$t.build.log)"; }
done

log "3. our gtests in the upgraded fork"
CCACHE_BASEDIR="$WORK/after" make -C "$WORK/after" -j"$JOBS" CUSTOM_CXX="ccache g++" \
  .build_release/test/test_ranked_list_loss_layer.testbin .build_release/test/test_normalization_layer.testbin \
  >>"$WORK/after.build.log" 2>&1 || { tail -30 "$WORK/after.build.log"; fail "our gtests do not build in the fork"; }
for t in ranked_list_loss normalization; do
  (cd "$WORK/after" && ".build_release/test/test_${t}_layer.testbin" --gtest_color=no) >"$WORK/gtest_$t.log" 2>&1 \
    || { tail -30 "$WORK/gtest_$t.log"; fail "test_${t}_layer"; }
  log "   test_${t}_layer: $(grep -E '^\[  PASSED  \]' "$WORK/gtest_$t.log")"
done

log "4. their In-shop train.prototxt trains in the upgraded fork (caffe train, CPU)"
python3 "$REPO/tests/fork/fork_inputs.py" "$WORK/inputs" --inshop "$INSHOP" --sizes "$SIZES" --batch 6 --iters 6
(cd "$WORK/inputs/inshop" && GLOG_logtostderr=1 "$WORK/after/.build_release/tools/caffe" train --solver solver.prototxt) \
  >"$WORK/inshop_train.log" 2>&1 || { tail -30 "$WORK/inshop_train.log"; fail "In-shop training"; }
python3 - "$WORK/inshop_train.log" <<'PY' || fail "In-shop training losses"
import math, re, sys
log = open(sys.argv[1]).read()
heads = {}
for m in re.finditer(r"Train net output #\d+: (\S+) = (\S+)", log):
    heads.setdefault(m.group(1), []).append(float(m.group(2)))
assert len(heads) == 3, f"three loss heads expected, got {sorted(heads)}"
for name, v in heads.items():
    assert len(v) >= 6 and all(math.isfinite(x) for x in v), (name, v)
    print(f"   {name}: {len(v)} iterations, loss {v[0]:.4f} -> {v[-1]:.4f}")
PY

log "5. caffe time of the heads-only net, before (their layer) and after (ours)"
{
  echo "| N x D | their layer (ms) | ours (ms) | speed-up | their peak memory (MB) | ours (MB) |"
  echo "|---|---|---|---|---|---|"
} >"$WORK/summary.md"
for n in ${SIZES//,/ }; do
  row="| ${n}x512"
  for t in before after; do
    runs=""  # three runs: the median of their averages
    for r in 1 2 3; do
      out=$(cd "$WORK/inputs" && OPENBLAS_NUM_THREADS=1 RLL_NUM_THREADS=1 GLOG_logtostderr=1 /usr/bin/time -v \
        "$WORK/$t/.build_release/tools/caffe" time --model "heads_$n.prototxt" --iterations 20 2>&1) \
        || { echo "$out" | tail -20; fail "caffe time ($t, N = $n)"; }
      runs="$runs $(echo "$out" | sed -n 's/.*Average Forward-Backward: \([0-9.]*\) ms.*/\1/p')"
      mb=$(echo "$out" | sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\)/\1/p')
    done
    ms=$(python3 -c "import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))" $runs)
    eval "ms_$t=$ms mb_$t=$(( mb / 1024 ))"
  done
  ratio=$(python3 -c "print(f'{$ms_before / $ms_after:.1f}x')")
  echo "$row | $ms_before | $ms_after | $ratio | $mb_before | $mb_after |" >>"$WORK/summary.md"
done
first=${SIZES%%,*}
for t in before after; do
  : >"$WORK/inputs/none.caffemodel"  # the head has no weights; caffe test wants a file
  out=$(cd "$WORK/inputs" && GLOG_logtostderr=1 "$WORK/$t/.build_release/tools/caffe" test --model "heads_$first.prototxt" \
    --weights none.caffemodel --iterations 1 2>&1) || { echo "$out" | tail -20; fail "caffe test ($t)"; }
  eval "loss_$t=$(echo "$out" | sed -n 's/.*Batch 0, loss = \([-0-9.e]*\).*/\1/p')"
done
echo >>"$WORK/summary.md"
echo "The loss top after one Forward of the ${first}x512 head (caffe test): their layer $loss_before, ours $loss_after." \
  >>"$WORK/summary.md"
echo "caffe time, median of 3 runs of 20 iterations, one thread (OPENBLAS_NUM_THREADS=1, RLL_NUM_THREADS=1), $(nproc) cores:" \
  "$(lscpu | sed -n 's/^Model name: *//p')" >>"$WORK/summary.md"
cat "$WORK/summary.md"

if [ "${CUDA:-0}" = 1 ]; then
  log "6. CUDA build of the upgraded fork"
  "$REPO/tests/fork/cuda_build.sh" "$FORK" "$WORK/after-cuda"
fi
log "passed"
