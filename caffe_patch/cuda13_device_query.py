#!/usr/bin/env python3
"""CUDA 13 removed three cudaDeviceProp fields that Caffe's DeviceQuery prints (clockRate, deviceOverlap,
kernelExecTimeoutEnabled): their LOG lines in src/caffe/common.cpp are kept for older CUDA only. Used by
build_caffe.sh --cuda (the sdist) and tests/fork/cuda_build.sh (the authors' fork); a second run changes nothing.

    caffe_patch/cuda13_device_query.py <tree>/src/caffe/common.cpp
"""
import sys

path = sys.argv[1]
text = open(path).read()
if "#if CUDART_VERSION < 13000" not in text:
    for field in ("prop.clockRate;", "(prop.deviceOverlap", "(prop.kernelExecTimeoutEnabled"):
        i = text.index(field)
        a = text.rindex("  LOG(INFO)", 0, i)
        b = text.index(";", i) + 1
        text = text[:a] + "#if CUDART_VERSION < 13000\n" + text[a:b] + "\n#endif" + text[b:]
    with open(path, "w") as f:
        f.write(text)
