#!/usr/bin/env python3
"""Reads Caffe's logs for the Caffe GPU check (tests/gpu/caffe_gpu_check.sh) and judges them.

  caffe_logs.py train LOG --window K [--below R]   every iteration's loss finite, and the mean of the last K below
                                                    R times the mean of the first K (exit 1 otherwise)
  caffe_logs.py time LOG --label TEXT [--ours PREFIX ...]
                                                    `caffe time`: the layers whose names start with a PREFIX (our
                                                    layers), their forward+backward ms and share of the iteration,
                                                    as a Markdown row (exit 1 if the log has no timing)
"""
import argparse
import math
import re
import sys


def train(a):
    with open(a.log, errors="replace") as f:
        log = f.read()
    losses = [float(v) for v in re.findall(r"Iteration \d+ \([^)]*\), loss = (\S+)", log)]
    if not losses:
        losses = [float(v) for v in re.findall(r"Iteration \d+, loss = (\S+)", log)]
    if len(losses) < 2 * a.window:
        print(f"{a.log}: {len(losses)} iterations logged, fewer than 2 x {a.window}")
        return 1
    bad = [i for i, v in enumerate(losses) if not math.isfinite(v)]
    first = sum(losses[: a.window]) / a.window
    last = sum(losses[-a.window:]) / a.window
    ok = not bad and last < a.below * first
    print(f"{len(losses)} iterations, {'all finite' if not bad else f'{len(bad)} not finite (first at {bad[0]})'}; "
          f"mean loss of the first {a.window} {first:.5g}, of the last {a.window} {last:.5g} "
          f"(ratio {last / first:.3f}, needed below {a.below}): {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


def timing(a):
    with open(a.log, errors="replace") as f:
        log = f.read()
    per_layer = {}
    for name, phase, ms in re.findall(r"\]\s+(\S+)\s+(forward|backward): ([0-9.e+-]+) ms\.", log):
        per_layer.setdefault(name, {})[phase] = float(ms)
    fwd = re.search(r"Average Forward pass: ([0-9.e+-]+) ms", log)
    bwd = re.search(r"Average Backward pass: ([0-9.e+-]+) ms", log)
    if not per_layer or not fwd or not bwd:
        print(f"| {a.label} | no timing in {a.log} |")
        return 1
    total = float(fwd.group(1)) + float(bwd.group(1))
    cells = []
    for prefix in a.ours:
        names = [n for n in per_layer if n.startswith(prefix)]
        ms = sum(sum(per_layer[n].values()) for n in names)
        cells.append(f"{prefix}* ({len(names)}): {ms:.3f} ms = {100 * ms / total:.2f} %")
    print(f"| {a.label} | {total:.2f} ms | " + " | ".join(cells) + " |")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("log")
    t.add_argument("--window", type=int, default=20)
    t.add_argument("--below", type=float, default=1.0)
    m = sub.add_parser("time")
    m.add_argument("log")
    m.add_argument("--label", required=True)
    m.add_argument("--ours", nargs="+", default=["loss", "norm"])
    a = ap.parse_args()
    return train(a) if a.cmd == "train" else timing(a)


if __name__ == "__main__":
    sys.exit(main())
