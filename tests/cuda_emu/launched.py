#!/usr/bin/env python3
"""Which kernels of the committed PTX the kernel emulation launched (one name per line in the report that
driver.cpp appends to, across every test process): prints `kernels launched: K of K` and fails if any was not."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    report = sys.argv[1]
    entries = set()
    for path in glob.glob(os.path.join(ROOT, "cuda", "ptx", "*.ptx")):
        entries.update(re.findall(r"^\.visible \.entry (\w+)\(", open(path).read(), re.M))
    launched = set(open(report).read().split()) if os.path.exists(report) else set()
    print(f"kernels launched: {len(entries & launched)} of {len(entries)}")
    missing = sorted(entries - launched)
    if missing:
        print("never launched: " + ", ".join(missing))
        sys.exit(1)


if __name__ == "__main__":
    main()
