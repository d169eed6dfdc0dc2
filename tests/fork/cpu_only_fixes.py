#!/usr/bin/env python3
"""What the authors' 2020 fork (CaffeMex_RLL_GR_V03_Simp) needs to build CPU_ONLY on Debian 12, whether or not
caffe_patch/apply has upgraded it. This is the test's business, not apply's (`make test-fork`; docs/caffe.md lists it
for a user on a CPU-only machine):

  1. Makefile.config: the fork ships none; CPU_ONLY, OpenBLAS, no OpenCV/LevelDB/LMDB, Debian's HDF5 folders.
  2. src/caffe/util/io.cpp: protobuf 3.21's CodedInputStream::SetTotalBytesLimit takes one argument.
  3. The CPU_ONLY stubs of its layers match what their headers declare: several .cpp files stub GPU methods that
     the class never declares (STUB_GPU), FocalLossLayer stubs only Backward_gpu of the two it declares.

    tests/fork/cpu_only_fixes.py <fork tree>        (prints each change; a second run changes nothing)
"""
import os
import re
import sys

CONFIG = """# tests/fork/cpu_only_fixes.py: CPU_ONLY on Debian 12
CPU_ONLY := 1
USE_OPENCV := 0
USE_LEVELDB := 0
USE_LMDB := 0
BLAS := open
INCLUDE_DIRS := /usr/local/include /usr/include/hdf5/serial
LIBRARY_DIRS := /usr/local/lib /usr/lib /usr/lib/x86_64-linux-gnu/hdf5/serial
BUILD_DIR := build
DISTRIBUTE_DIR := distribute
Q ?= @
"""
STUB = re.compile(r"^[ \t]*(STUB_GPU\((\w+)\);|STUB_GPU_(?:FORWARD|BACKWARD)\((\w+),\s*\w+\);)[ \t]*\n", re.M)


def class_body(headers, name):
    """The body of `class name` in the layer headers, comments removed (None if not found)."""
    for text in headers:
        m = re.search(r"\bclass\s+" + name + r"\b[^;{]*\{", text)
        if not m:
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        return re.sub(r"//[^\n]*|/\*.*?\*/", "", text[m.end():i], flags=re.S)
    return None


def fix_stubs(tree, changes):
    inc = os.path.join(tree, "include/caffe/layers")
    headers = [open(os.path.join(inc, h)).read() for h in sorted(os.listdir(inc)) if h.endswith(".hpp")]
    src = os.path.join(tree, "src/caffe/layers")
    for name in sorted(os.listdir(src)):
        if not name.endswith(".cpp"):
            continue
        path = os.path.join(src, name)
        text = open(path).read()
        stubs = list(STUB.finditer(text))
        if not stubs:
            continue
        cls = stubs[0].group(2) or stubs[0].group(3)
        body = class_body(headers, cls)
        if body is None:
            continue
        # Declared and not defined in the class (a declaration ends with ';', an inline definition with '{').
        want = {w for w in ("Forward", "Backward") if re.search(w + r"_gpu\s*\([^)]*\)\s*;", body)}
        have = set()
        for m in stubs:
            have |= {"Forward", "Backward"} if m.group(2) else {"Forward" if "FORWARD" in m.group(0) else "Backward"}
        if want == have:
            continue
        want = [f"STUB_GPU_{w.upper()}({cls}, {w});\n" for w in ("Forward", "Backward") if w in want]
        new = text[:stubs[0].start()] + "".join(want) + text[stubs[-1].end():]
        changes[path] = new


def main():
    tree = sys.argv[1]
    changes = {}
    config = os.path.join(tree, "Makefile.config")
    if not os.path.exists(config) or open(config).read() != CONFIG:
        changes[config] = CONFIG
    io = os.path.join(tree, "src/caffe/util/io.cpp")
    text = open(io).read()
    if "SetTotalBytesLimit(kProtoReadBytesLimit, 1024*1024*1024)" in text:
        changes[io] = text.replace("SetTotalBytesLimit(kProtoReadBytesLimit, 1024*1024*1024)",
                                   "SetTotalBytesLimit(kProtoReadBytesLimit)")
    fix_stubs(tree, changes)
    for path, text in changes.items():
        with open(path, "w") as f:
            f.write(text)
        print(f"cpu_only_fixes: {os.path.relpath(path, tree)}")
    if not changes:
        print("cpu_only_fixes: nothing to change")


if __name__ == "__main__":
    main()
