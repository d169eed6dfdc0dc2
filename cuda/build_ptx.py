#!/usr/bin/env python3
"""Compiles every kernel family of cuda/ to PTX with a pinned NVRTC (PyPI wheel nvidia-cuda-nvrtc-cu12==12.9.86,
target compute_70, so drivers from CUDA 12.x on load it) into cuda/ptx/<family>.ptx, which the library embeds.
The constants shared with the Rust code come from src/kernel_consts.rs, as -DRLL_<NAME>=<value>.

  cuda/build_ptx.py            regenerate cuda/ptx/
  cuda/build_ptx.py --check    fail if cuda/ptx/ is stale, and assemble every PTX with ptxas (wheel
                               nvidia-cuda-nvcc-cu12) for sm_70, sm_80 and sm_90: this runs without a GPU (CI).
"""
import argparse
import ctypes
import glob
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FAMILIES = ["distance", "rows", "gradient", "normalize", "convert"]
HEADERS = ["rll_common.cuh"]
OPTIONS = ["--gpu-architecture=compute_70", "--std=c++14", "-default-device", "--fmad=true"]
NVRTC_WHEEL = "nvidia-cuda-nvrtc-cu12==12.9.86"
NVCC_WHEEL = "nvidia-cuda-nvcc-cu12==12.9.86"
CONSTS = os.path.join(HERE, "..", "src", "kernel_consts.rs")


def shared_constants():
    """-DRLL_<NAME>=<value> for every `pub const NAME: type = value;` of src/kernel_consts.rs, and RLL_LN_EPS_SUM."""
    found = re.findall(r"^pub const (\w+): \w+ = ([^;]+);", open(CONSTS).read(), re.M)
    defines = {}
    for name, value in found:
        if not re.fullmatch(r"[0-9eE.+\-*/() ]+", value):
            raise SystemExit(f"src/kernel_consts.rs: {name} = {value} is not a literal expression")
        defines[name] = value if re.fullmatch(r"[0-9.eE+-]+", value) else f"({value})"
    defines["LN_EPS_SUM"] = repr(math.log(eval(defines["EPS_SUM"], {"__builtins__": {}})))
    return [f"-DRLL_{name}={value}" for name, value in defines.items()]


def nvidia_dir(name, wheel):
    try:
        import importlib

        mod = importlib.import_module(f"nvidia.{name}")
        return list(mod.__path__)[0]
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", wheel], check=True)
        import importlib

        importlib.invalidate_caches()
        return list(importlib.import_module(f"nvidia.{name}").__path__)[0]


def nvrtc():
    lib = ctypes.CDLL(os.path.join(nvidia_dir("cuda_nvrtc", NVRTC_WHEEL), "lib", "libnvrtc.so.12"))
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def compile_family(lib, family):
    with open(os.path.join(HERE, f"{family}.cu")) as f:
        src = f.read().encode()
    headers = [open(os.path.join(HERE, h)).read().encode() for h in HEADERS]
    prog = ctypes.c_void_p()
    arr = lambda items: (ctypes.c_char_p * len(items))(*items)
    check(lib, lib.nvrtcCreateProgram(ctypes.byref(prog), src, f"{family}.cu".encode(), len(HEADERS),
                                      arr(headers), arr([h.encode() for h in HEADERS])), family)
    opts = [o.encode() for o in OPTIONS + shared_constants()]
    rc = lib.nvrtcCompileProgram(prog, len(opts), arr(opts))
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        raise SystemExit(f"NVRTC failed on cuda/{family}.cu:\n{log.value.decode()}")
    lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
    ptx = ctypes.create_string_buffer(size.value)
    check(lib, lib.nvrtcGetPTX(prog, ptx), family)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return ptx.value.decode()


def check(lib, rc, what):
    if rc != 0:
        raise SystemExit(f"NVRTC error on {what}: {lib.nvrtcGetErrorString(rc).decode()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    lib = nvrtc()
    out_dir = os.path.join(HERE, "ptx")
    os.makedirs(out_dir, exist_ok=True)
    stale = []
    for family in FAMILIES:
        ptx = compile_family(lib, family)
        path = os.path.join(out_dir, f"{family}.ptx")
        if args.check:
            current = open(path).read() if os.path.exists(path) else ""
            if current != ptx:
                stale.append(family)
        else:
            with open(path, "w") as f:
                f.write(ptx)
        print(f"cuda/{family}.cu: {sum(1 for l in ptx.splitlines() if l.startswith('.visible .entry'))} kernels")
    if args.check:
        if stale:
            raise SystemExit(f"cuda/ptx is stale for {', '.join(stale)}: run cuda/build_ptx.py and commit cuda/ptx/")
        ptxas = os.path.join(nvidia_dir("cuda_nvcc", NVCC_WHEEL), "bin", "ptxas")
        for path in sorted(glob.glob(os.path.join(out_dir, "*.ptx"))):
            for sm in ("sm_70", "sm_80", "sm_90"):
                with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
                    r = subprocess.run([ptxas, "--gpu-name", sm, "-O3", path, "-o", cubin.name],
                                       capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit(f"ptxas {sm} failed on {os.path.basename(path)}:\n{r.stderr}")
            print(f"ptxas sm_70, sm_80, sm_90: {os.path.basename(path)} ok")


if __name__ == "__main__":
    main()
