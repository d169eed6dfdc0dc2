#!/usr/bin/env python3
"""caffe_patch/apply's reading of a user's tree under atheris (libFuzzer for Python): arbitrary caffe.proto,
Makefile, src/caffe/CMakeLists.txt, solver.cpp and pycaffe _caffe.cpp texts through the functions that patch them.
The contract: a patched text, None where the function declines (CMake without add_library(caffe), pycaffe without
its init), or a `Refused` with a message; patching the result again changes nothing; never another exception.

    fuzz_apply.py [libFuzzer flags] [corpus dirs]     (make fuzz; seeds in fuzz/seeds/apply)
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import os
import sys

import atheris

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# apply has no .py suffix: loaded by path; its functions are instrumented below (coverage for libFuzzer).
loader = importlib.machinery.SourceFileLoader("rll_apply", os.path.join(REPO, "caffe_patch", "apply"))
spec = importlib.util.spec_from_loader("rll_apply", loader)
apply = importlib.util.module_from_spec(spec)
loader.exec_module(apply)

with open(os.path.join(REPO, "proto", "ranked_list_loss.proto"), encoding="utf-8") as f:
    OURS = f.read()
LIB, STAMP = "/lib/libranked_list_loss.a", "0123456789abcdef"
PATCHERS = [
    ("caffe.proto", lambda t: apply.patch_proto(t, OURS)),
    ("Makefile", lambda t: apply.patch_makefile(t, LIB, STAMP)),
    ("CMakeLists.txt", lambda t: apply.patch_cmake(t, LIB, STAMP)),
    ("solver.cpp", apply.patch_solver),
    ("_caffe.cpp", apply.patch_pycaffe),
]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    name, patch = PATCHERS[data[0] % len(PATCHERS)]
    text = data[1:].decode("utf-8", errors="replace")
    try:
        out = patch(text)
    except apply.Refused as e:
        assert str(e), f"{name}: a refusal without a message"
        return
    if out is None:
        return
    assert isinstance(out, str), f"{name}: {type(out)}"
    again = patch(out)
    assert again == out, f"{name}: patching the patched text changed it"


if __name__ == "__main__":
    for function in vars(apply).values():
        if inspect.isfunction(function):
            atheris.instrument_func(function)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
