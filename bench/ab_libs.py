#!/usr/bin/env python3
"""Two builds of ours side by side in one run (e.g. before and after a change): bench/compare_pml.py's shapes, batches
and timing, float32 forward+backward through the C ABI, the two libraries alternated per case; prints both medians
and the ratio. The order of the two alternates from round to round (ABBA...), so that neither gains from running
second. No torch needed.
Usage: python3 bench/ab_libs.py BEFORE.so AFTER.so [--threads 1 2 0] [--rounds 3] [--shapes 60x512 ...]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_pml as c  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 0])
    ap.add_argument("--radius", type=float, nargs="+", default=[1.0, 0.5])
    ap.add_argument("--rounds", type=int, default=3, help="alternations per case; the median of their medians")
    ap.add_argument("--shapes", nargs="+", default=[f"{n}x{d}" for n, d in c.SHAPES], help="N×D cases, as 60x512")
    a = ap.parse_args()
    libs = [c.load(a.before), c.load(a.after)]
    shapes = [tuple(map(int, s.split("x"))) for s in a.shapes]
    print("| N×D | ‖x‖ | threads | before (ms) | after (ms) | after / before |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for radius in a.radius:
        for threads in a.threads:
            for n, d in shapes:
                x, y = c.batch(n, d, radius=radius)
                times = [[], []]
                for r in range(a.rounds):
                    for k in (0, 1) if r % 2 == 0 else (1, 0):
                        lib = libs[k]
                        lib.rll_set_num_threads(threads)
                        run, _ = c.ours(lib, x, y)
                        times[k].append(c.median_time(run, min_seconds=0.3))
                before, after = (statistics.median(t) * 1e3 for t in times)
                worst = max(worst, after / before)
                print(f"| {n}×{d} | {radius:g} | {threads or 'auto'} | {before:.3f} | {after:.3f} | {after / before:.3f} |",
                      flush=True)
    print(f"largest after/before: {worst:.3f}")


if __name__ == "__main__":
    main()
