#!/usr/bin/env python3
"""Builds the kernel emulation (docs/gpu.md): libcuda.so for tests only, serving the CUDA driver calls of cudarc
and of our C test by running the kernels of cuda/*.cu compiled for the CPU. Each family is compiled with the same
-DRLL_* constants as its PTX (cuda/build_ptx.py) and registers every kernel that its committed PTX declares, so a
kernel missing on either side fails the build.

  tests/cuda_emu/build.py --out target/cuda-emu     then LD_LIBRARY_PATH=target/cuda-emu <a test>
  --cuda-dir DIR: the kernel sources from DIR instead of cuda/ (tests/cuda_emu/mutants.py)

Each family is compiled twice: plain, and checked, with GCC's ThreadSanitizer instrumentation served by races.cpp
(no TSan runtime), so that every load and store is checked for shared-memory races. Launches up to a size run the
checked build in several orders of blocks and threads and must give the same bytes (driver.cpp); larger ones run
the plain build in one order.
"""
import argparse
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "cuda"))
import build_ptx  # noqa: E402  (the kernel families and the shared constants, written once there)

RUNTIME = ["driver.cpp", "blocks.cpp", "races.cpp", "device_memory.cpp", "ptx.cpp"]
CXX = os.environ.get("CXX", "g++")
FLAGS = ["-std=c++17", "-O2", "-fPIC", "-g", "-Wall", "-Wno-unknown-pragmas", "-Wno-sign-compare", "-Wno-unused"]
# The checked build of each family: its loads and stores call races.cpp's checks (GCC's ThreadSanitizer
# instrumentation, without its runtime; function entry and exit are not instrumented).
KERNEL_FLAGS = ["-fsanitize=thread", "--param", "tsan-instrument-func-entry-exit=0"]
# Kernels with planted faults for emu_selftest.c, registered beside the families (no committed PTX declares them).
PLANTED = "planted_faults"


def entries(family):
    with open(os.path.join(ROOT, "cuda", "ptx", f"{family}.ptx")) as f:  # always the committed PTX
        return re.findall(r"^\.visible \.entry (\w+)\(", f.read(), re.M)


def registry_source(family, names, checked):
    """The family's kernels and their registration. The checked build renames its extern "C" entries and puts its
    copy in an unnamed namespace, so that none of its functions merges with the plain build's at link time."""
    source = [f'#include "{family}.cu"']
    if checked:
        source = [*(f"#define {name} {name}_checked" for name in names), "namespace {", *source, "}  // namespace"]
    lines = ['#include "cuda_builtins.h"', '#include "kernel_entry.h"', *source, "",
             f"static const rll_emu::Registrar registrar_{family}{{{{"]
    lines += [f'    {{"{name}", rll_emu::entry(&{name})}},' for name in names]
    lines += [f"}}, rll_emu::Build::{'checked' if checked else 'plain'}}};", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cuda-dir", default=os.path.join(ROOT, "cuda"))
    args = ap.parse_args()
    cuda_dir = os.path.abspath(args.cuda_dir)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    defines = build_ptx.shared_constants()
    jobs = []
    planted = re.findall(r"__global__ void (\w+)\(", open(os.path.join(HERE, f"{PLANTED}.cu")).read())
    for family, names in [(f, entries(f)) for f in build_ptx.FAMILIES] + [(PLANTED, planted)]:
        for checked in (False, True):
            src = os.path.join(out, f"kernels_{family}{'_checked' if checked else ''}.cpp")
            text = registry_source(family, names, checked)
            if not os.path.exists(src) or open(src).read() != text:
                with open(src, "w") as f:
                    f.write(text)
            jobs.append((src, defines + (KERNEL_FLAGS if checked else [])))
    jobs += [(os.path.join(HERE, s), []) for s in RUNTIME]

    def compile_one(job):
        src, extra = job
        obj = os.path.join(out, os.path.basename(src) + ".o")
        cmd = [CXX, *FLAGS, *extra, "-I", HERE, "-I", cuda_dir, "-c", src, "-o", obj]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}\n{r.stderr}")
        return obj

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objs = list(pool.map(compile_one, jobs))
    lib = os.path.join(out, "libcuda.so")
    # -z defs: an instrumentation callback that races.cpp lacks fails here, not when a test loads the library.
    subprocess.run([CXX, "-shared", "-o", lib, *objs, "-Wl,-soname,libcuda.so.1", "-Wl,-z,defs", "-pthread", "-ldl"],
                   check=True)
    for alias in ("libcuda.so.1",):
        path = os.path.join(out, alias)
        if os.path.lexists(path):
            os.remove(path)
        os.symlink("libcuda.so", path)
    # The device helpers against their CPU twins (run by make test-cuda-emu).
    helpers = os.path.join(out, "helpers_test")
    subprocess.run([CXX, *FLAGS, *defines, "-I", HERE, "-I", cuda_dir,
                    os.path.join(HERE, "helpers_test.cpp"), "-o", helpers], check=True)
    print(f"cuda-emu: {lib} ({sum(len(entries(f)) for f in build_ptx.FAMILIES)} kernels), {helpers}")


if __name__ == "__main__":
    main()
