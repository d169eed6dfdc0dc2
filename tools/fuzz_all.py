#!/usr/bin/env python3
"""Runs every fuzz target (fuzz/, docs/reliability.md) for SECONDS each and prints, per target, the executions, the
crashes and the corpus: the C ABI and rll-migrate's prototxt and proto parsing (cargo-fuzz on stable, --sanitizer
none), and caffe_patch/apply's reading of a tree (atheris). Each target first replays its regression inputs
(fuzz/regressions/<target>: every crash found so far, fixed) and its committed corpus and seeds.

    tools/fuzz_all.py SECONDS [--keep]    (make fuzz: 60 s each, --keep; make test-fuzz: a few seconds each)

--keep adds what the run finds to fuzz/corpus/<target> (to commit); without it, new inputs go to a temporary
directory and the tree is left as it was. A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ = os.path.join(REPO, "fuzz")
CARGO_TARGETS = ["c_abi", "migrate_prototxt", "migrate_proto"]
ATHERIS = os.environ.get("RLL_FUZZ_PYTHON", sys.executable)


def command(target: str, inputs: list[str], flags: list[str]) -> list[str]:
    if target == "apply":
        return [ATHERIS, os.path.join(FUZZ, "apply", "fuzz_apply.py"), *flags, *inputs]
    return ["cargo", "fuzz", "run", "--sanitizer", "none", "-O", target, *inputs, "--", *flags]


def dirs(target: str) -> list[str]:
    return [d for d in (os.path.join(FUZZ, sub, target) for sub in ("corpus", "seeds", "regressions"))
            if os.path.isdir(d)]


def run(target: str, seconds: int, keep: bool) -> dict:
    artifacts = os.path.join(FUZZ, "artifacts", target) + os.sep
    os.makedirs(artifacts, exist_ok=True)
    before = set(os.listdir(artifacts))
    regressions = os.path.join(FUZZ, "regressions", target)
    replayed = sorted(os.listdir(regressions)) if os.path.isdir(regressions) else []
    with tempfile.TemporaryDirectory() as scratch:
        # libFuzzer writes new inputs into the first corpus directory.
        first = os.path.join(FUZZ, "corpus", target) if keep else scratch
        os.makedirs(first, exist_ok=True)
        inputs = [first] + [d for d in dirs(target) if d != first]
        flags = [f"-max_total_time={seconds}", "-print_final_stats=1", "-max_len=4096", f"-artifact_prefix={artifacts}",
                 "-timeout=10", "-rss_limit_mb=4096"]
        start = time.time()
        r = subprocess.run(command(target, inputs, flags), cwd=FUZZ, capture_output=True, text=True, errors="replace",
                           check=False)
        elapsed = time.time() - start
    out = r.stdout + r.stderr
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
    crashes = sorted(set(os.listdir(artifacts)) - before)
    if r.returncode != 0 and not crashes:
        crashes = [f"(exit status {r.returncode})"]
    if crashes:
        sys.stderr.write(f"\n--- {target}: the last lines of its output ---\n" + "\n".join(out.splitlines()[-25:]) + "\n")
    corpus = sum(len(os.listdir(d)) for d in dirs(target))
    return {"target": target, "seconds": elapsed, "execs": int(execs.group(1)) if execs else 0, "crashes": crashes,
            "corpus": corpus, "regressions": len(replayed)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seconds", type=int)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    rows = [run(t, args.seconds, args.keep) for t in CARGO_TARGETS + ["apply"]]
    print(f"\nfuzzing, {args.seconds} s per target (docs/reliability.md)")
    print("| target | seconds | executions | crashes | corpus + seeds + regressions |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['target']} | {r['seconds']:.0f} | {r['execs']:,} | {len(r['crashes'])} | {r['corpus']} "
              f"({r['regressions']} regression inputs) |")
    bad = [r for r in rows if r["crashes"]]
    for r in bad:
        print(f"{r['target']}: crash inputs in fuzz/artifacts/{r['target']}/: {', '.join(r['crashes'])}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
