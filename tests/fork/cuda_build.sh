#!/usr/bin/env bash
# A CUDA build of the authors' fork after caffe_patch/apply, so that their users' GPU builds run our kernels:
#   tests/fork/cuda_build.sh <pristine CaffeMex_RLL_GR_V03_Simp> [tree]     (default tree: build/fork/after-cuda)
# The CUDA 13.0 toolkit from the wheels `make caffe-gpu` unpacks (or CUDA_DIR=<your toolkit>), GPU_ARCH (default 90),
# the library's cuda feature linked in. The fork needs for CUDA 13 what the sdist needs (C++17 for CCCL 3, here in
# place of its Makefile's -std=c++11; common.cpp's device query without the three fields CUDA 13 removed) and
# protobuf 3.21's one-argument SetTotalBytesLimit (tests/fork/cpu_only_fixes.py; its stub fixes do not matter to a
# CUDA build). No GPU is needed; nothing runs on one here.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
FORK=$(cd "${1:?usage: cuda_build.sh <CaffeMex_RLL_GR_V03_Simp> [tree]}" && pwd)
TREE=${2:-$REPO/build/fork/after-cuda}
CACHE=${RLL_CACHE:-$HOME/.cache/ranked-list-loss}
JOBS=${JOBS:-$(nproc)}
CU=${CUDA_DIR:-$CACHE/cuda13/nvidia/cu13}
log() { printf '[fork cuda_build %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

[ -x "$CU/bin/nvcc" ] || { log "no nvcc in $CU: run make caffe-gpu once (it unpacks the CUDA 13.0 wheels)"; exit 1; }
(cd "$REPO" && cargo build --release -p ranked-list-loss-native-cuda)
rm -rf "$TREE" && cp -a "$FORK" "$TREE"
"$REPO/caffe_patch/apply" "$TREE" --no-build | sed 's/^/  /'
python3 "$REPO/tests/fork/cpu_only_fixes.py" "$TREE" | sed 's/^/  /'
python3 "$REPO/caffe_patch/cuda13_device_query.py" "$TREE/src/caffe/common.cpp"
sed -i 's/^CPU_ONLY := 1/# CPU_ONLY := 1/' "$TREE/Makefile.config"
# CCCL 3 (Thrust, CUB) needs C++17; this fork's Makefile passes its own -std=c++11 to g++ and, after NVCCFLAGS, to nvcc.
sed -i 's/-std=c++11/-std=c++17/' "$TREE/Makefile"
printf 'CUDA_DIR := %s\nCUDA_ARCH := %s\n' "$CU" \
  "$(for a in ${GPU_ARCH:-90}; do printf -- '-gencode arch=compute_%s,code=sm_%s ' "$a" "$a"; done)" >>"$TREE/Makefile.config"
# nvcc through ccache (as build_caffe.sh --cuda); its uncacheable dependency pass dropped (a fresh tree).
sed -i -e 's#^\t$(Q)$(CUDA_DIR)/bin/nvcc $(NVCCFLAGS) $(CUDA_ARCH) -c#\t$(Q)ccache $(CUDA_DIR)/bin/nvcc $(NVCCFLAGS) $(CUDA_ARCH) -c#' \
  -e '/^\t$(Q)$(CUDA_DIR)\/bin\/nvcc $(NVCCFLAGS) $(CUDA_ARCH) -M $< -o ${@:.o=.d} \\$/{N;d}' "$TREE/Makefile"
export CPATH=/usr/include/hdf5/serial LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/hdf5/serial
export CCACHE_DIR="$CACHE/ccache" CCACHE_MAXSIZE=2G CCACHE_BASEDIR="$TREE" CCACHE_NOHASHDIR=1
log "make lib tools and our gtests with CUDA ($("$CU/bin/nvcc" --version | tail -1), GPU_ARCH=${GPU_ARCH:-90})"
make -C "$TREE" -k -j"$JOBS" CUSTOM_CXX=/usr/lib/ccache/g++ Q= \
  RLL_STATIC_LIB="$REPO/target/release/libranked_list_loss_cuda.a" lib tools \
  .build_release/test/test_ranked_list_loss_layer.testbin .build_release/test/test_normalization_layer.testbin \
  >"$TREE/build.log" 2>&1 || {
  grep -E "error|Error" "$TREE/build.log" | head -40; log "CUDA build of the upgraded fork failed (log: $TREE/build.log)"
  exit 1; }
# (grep -c, not -q: an early exit would make nm fail with SIGPIPE under pipefail)
for sym in "RankedListLossLayer<float>::Forward_gpu" "RankedListLossLayer<double>::Backward_gpu" \
           "DistanceWeightedValidPairLossV12Layer<float>::Forward_gpu" "NormalizationLayer<float>::Forward_gpu"; do
  [ "$(nm -DC "$TREE/.build_release/lib/libcaffe.so" | grep -cF "$sym")" -gt 0 ] || { log "libcaffe has no $sym"; exit 1; }
done
log "done: libcaffe, the tools and our gtests link with our Forward_gpu/Backward_gpu ($TREE)"
