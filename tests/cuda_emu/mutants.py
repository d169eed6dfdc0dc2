#!/usr/bin/env python3
"""Mutation check of the kernel emulation (make test-cuda-emu-mutants; docs/gpu.md): plants one bug at a time, a
wrong index, a wrong sum, a read past a buffer, a removed __syncthreads(), in a copy of cuda/ (or, for the launch
code, in src/cuda/ with the file restored afterwards), rebuilds what it touches and runs the GPU tests that should
catch it. Each must fail; the script fails if any mutant survives. For a removed barrier it also says whether the
emulation without its scheduling checks (one forward order, no race check) would have caught it. Not part of
`make test` (a few minutes)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (what, file, old text, new text, test filter)
MUTANTS = [
    ("wrong index: a Gram tile's column", "cuda/distance.cu",
     "const long j = col0 + tx + RLL_GB * b;", "const long j = col0 + tx + RLL_GB * b + 1;", "gpu_matches_cpu_f32"),
    ("wrong sum: the block reduction drops its last level", "cuda/rll_common.cuh",
     "template <typename T> __device__ T block_sum(T v, T* buf) {\n  buf[threadIdx.x] = v;\n  __syncthreads();\n"
     "  for (int s = RLL_THREADS / 2; s > 0; s >>= 1) {",
     "template <typename T> __device__ T block_sum(T v, T* buf) {\n  buf[threadIdx.x] = v;\n  __syncthreads();\n"
     "  for (int s = RLL_THREADS / 2; s > 1; s >>= 1) {", "gpu_matches_cpu_f32"),
    ("wrong index: the gradient's tile of A", "cuda/gradient.cu",
     "as[k][r] = (row0 + r < m && k0 + k < n) ? a[(row0 + r) * n + k0 + k] : (T)0;",
     "as[k][r] = (row0 + r < m && k0 + k < n) ? a[(row0 + r) * n + k0 + k + 1] : (T)0;", "gpu_matches_cpu_f32"),
    ("read past a buffer: one column too many in the row norms", "cuda/distance.cu",
     "for (long k = 0; k < d; ++k) a += xs[i * d + k] * xs[i * d + k];",
     "for (long k = 0; k <= d; ++k) a += xs[i * d + k] * xs[i * d + k];", "gpu_matches_cpu_f32"),
    ("wrong normaliser: y = x / max|x|", "cuda/normalize.cu",
     "y[blockIdx.x * d + k] = norm > 0 ? xr[k] / norm : (T)0;", "y[blockIdx.x * d + k] = norm > 0 ? xr[k] / m : (T)0;",
     "gpu_l2"),
    ("missing barrier: block_sum returns before every thread has read the sum", "cuda/rll_common.cuh",
     "  T r = buf[0];\n  __syncthreads();\n  return r;\n}\n\ntemplate <typename T> __device__ T block_max",
     "  T r = buf[0];\n  return r;\n}\n\ntemplate <typename T> __device__ T block_max", "gpu_matches_cpu_f32"),
    ("missing barrier: close_terms overwrites its flags while other threads still read them", "cuda/gradient.cu",
     "for (long j0 = 0; j0 < n; j0 += RLL_THREADS) {\n    __syncthreads();\n",
     "for (long j0 = 0; j0 < n; j0 += RLL_THREADS) {\n", "gpu_matches_cpu_f32"),
    ("wrong argument list: n and d swapped in a launch", "src/cuda/distance.rs",
     "args![xs = xs, n = ni, d = di, norms = w.norms]", "args![xs = xs, d = di, n = ni, norms = w.norms]",
     "gpu_matches_cpu_f32"),
]


# The emulation as it was before its scheduling checks: blocks and threads in one order, no race check.
UNCHECKED = {"RLL_CUDA_EMU_ORDERS": "forward", "RLL_CUDA_EMU_RACES": "0"}


def run_tests(emu_dir, test_filter, extra_env=None):
    env = dict(os.environ, LD_LIBRARY_PATH=emu_dir, **(extra_env or {}))
    r = subprocess.run(["cargo", "test", "--release", "--features", "cuda", "-p", "ranked-list-loss", "--test", "gpu",
                        "--", test_filter], cwd=ROOT, env=env, capture_output=True, text=True)
    out = r.stdout + r.stderr
    # The emulation's own words first (a race, a difference between orders, a fault), else the test's panic.
    lines = out.splitlines()
    why = next((l.strip() for l in lines if l.startswith("rll cuda-emu: ") and ("race" in l or "unwritten" in l or
                "depend on the order" in l or "out-of-bounds" in l)), "")
    why = why or next((l.strip() for l in lines if "panicked" in l or "Internal" in l), "")
    return r.returncode, why


def main():
    survivors = 0
    work = tempfile.mkdtemp(prefix="rll-mutants-")
    try:
        for what, path, old, new, test_filter in MUTANTS:
            start = time.time()
            full = os.path.join(ROOT, path)
            text = open(full).read()
            if text.count(old) != 1:
                raise SystemExit(f"mutant '{what}': its text is not found once in {path}: update tests/cuda_emu/mutants.py")
            emu = os.path.join(work, "emu")
            if path.startswith("cuda/"):
                cuda = os.path.join(work, "cuda")
                shutil.rmtree(cuda, ignore_errors=True)
                shutil.copytree(os.path.join(ROOT, "cuda"), cuda)
                with open(os.path.join(work, path), "w") as f:
                    f.write(text.replace(old, new))
                subprocess.run([sys.executable, os.path.join(ROOT, "tests/cuda_emu/build.py"), "--out", emu,
                                "--cuda-dir", cuda], check=True, capture_output=True)
                rc, why = run_tests(emu, test_filter)
                if "barrier" in what:
                    unchecked_rc, _ = run_tests(emu, test_filter, UNCHECKED)
                    why += ("; without the scheduling checks: " +
                            ("also caught" if unchecked_rc != 0 else "survives (only the new checks catch it)"))
            else:
                subprocess.run([sys.executable, os.path.join(ROOT, "tests/cuda_emu/build.py"), "--out", emu],
                               check=True, capture_output=True)
                try:
                    with open(full, "w") as f:
                        f.write(text.replace(old, new))
                    rc, why = run_tests(emu, test_filter)
                finally:
                    with open(full, "w") as f:
                        f.write(text)
            caught = rc != 0
            survivors += not caught
            print(f"{'caught' if caught else 'SURVIVED'}: {what} ({path}, {test_filter}, {time.time() - start:.0f} s)"
                  + (f"\n    {why[:400]}" if why else ""), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"mutants: {len(MUTANTS) - survivors} caught, {survivors} survived")
    sys.exit(1 if survivors else 0)


if __name__ == "__main__":
    main()
