#!/usr/bin/env python3
"""Which kernels of the committed PTX the kernel emulation launched, and which of them ran with its scheduling
checks (every order of blocks and threads, the shared-memory race check) at least once, from the report that
driver.cpp appends to across every test process (a name per line; "checked NAME"): prints `kernels launched: K of
K` and `kernels checked in every order: K of K`, and fails if any kernel missed either."""
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
    lines = open(report).read().splitlines() if os.path.exists(report) else []
    launched = {line for line in lines if " " not in line}
    checked = {line.split()[1] for line in lines if line.startswith("checked ")}
    print(f"kernels launched: {len(entries & launched)} of {len(entries)}")
    print(f"kernels checked in every order: {len(entries & checked)} of {len(entries)}")
    failed = False
    for what, seen in (("never launched", launched), ("never checked", checked)):
        missing = sorted(entries - seen)
        if missing:
            print(f"{what}: " + ", ".join(missing))
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
