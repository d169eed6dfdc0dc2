#!/usr/bin/env bash
# Builds pycaffe (python/caffe/_caffe.so and the generated caffe_pb2.py) in a patched Caffe tree that
# caffe_patch/build_caffe.sh has already built (no second Caffe), for Debian's Python 3 (/usr/bin/python3) with
# Debian's Boost.Python, numpy, protobuf, scipy and scikit-image, installed when missing. Used by `make pycaffe`.
#   caffe_patch/build_pycaffe.sh [tree]      (default: build/caffe)
# Then: PYTHONPATH=<tree>/python /usr/bin/python3 -c "import caffe"
# (The sdist's own setup.py needs conda, CMake targets this fork has commented out, and Python 3.7-3.9; Debian 12
# has 3.11: it cannot be used here.)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
TREE=${1:-$REPO/build/caffe}
CACHE=${RLL_CACHE:-$HOME/.cache/ranked-list-loss}
JOBS=${JOBS:-$(nproc)}
PY=/usr/bin/python3

log() { printf '[build_pycaffe %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

[ -f "$TREE/.temp_release/lib/libcaffe.so" ] || {
  log "no built Caffe in $TREE: run make caffe (or caffe_patch/build_caffe.sh) first"; exit 1; }

"$REPO/caffe_patch/need_packages" python3-dev libboost-python-dev python3-numpy python3-protobuf python3-scipy \
  python3-skimage python3-six

ver=$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')
numpy_inc=$($PY -c 'import numpy; print(numpy.get_include())')
boost_py="boost_python${ver/./}"
[ -e "/usr/lib/x86_64-linux-gnu/lib$boost_py.so" ] || [ -n "$(ls /usr/lib/*/lib"$boost_py".so 2>/dev/null)" ] || {
  log "no lib$boost_py.so for Python $ver (libboost-python-dev)"; exit 1; }
log "pycaffe for $PY (Python $ver, numpy $($PY -c 'import numpy; print(numpy.__version__)'), $boost_py)"

# _caffe.so finds libcaffe through the rpath $ORIGIN/../../build/lib the Makefile gives it; this fork builds into
# .temp_release, so build/ names that folder.
[ -e "$TREE/build" ] || ln -s .temp_release "$TREE/build"
export CPATH=/usr/include/hdf5/serial LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/hdf5/serial
export CCACHE_DIR="$CACHE/ccache" CCACHE_MAXSIZE=2G CCACHE_BASEDIR="$TREE"
make -C "$TREE" -j"$JOBS" Q= CUSTOM_CXX="$REPO/caffe_patch/pycaffe-g++" PYTHON_INCLUDE="/usr/include/python$ver $numpy_inc" \
  PYTHON_LIB=/usr/lib/x86_64-linux-gnu PYTHON_LIBRARIES="$boost_py python$ver" py >>"$TREE/build.log" 2>&1 || {
  tail -30 "$TREE/build.log"; log "pycaffe build failed (log: $TREE/build.log)"; exit 1; }
(cd "$TREE/python" && GLOG_minloglevel=2 $PY -c "import caffe; print('[build_pycaffe] import caffe: ' + caffe.__version__)")
log "done: PYTHONPATH=$TREE/python $PY"
