#!/usr/bin/env python3
"""Runs the demo (matlab/demo/run_demo.m in octave-cli) several times and summarises the runs.

  demo_runs.py seeds [--seeds 1,2,3,4,5] [--out demo_seeds] [--jobs 1]
      The reported protocol, one run per seed: mean ± std of every row of the two-protocol table, written to
      OUT/summary.md and OUT/summary.json, and the issue's floors checked for every seed (exit 1 if one fails).
  demo_runs.py tune [--seeds 1,2] [--out demo_tune] [--jobs 2] [--configs NAME=VAR=V,VAR=V ...]
      Recipe selection on SPLIT=validation (held-out training images of the seen classes; no test image is read):
      validation Recall@1 per configuration, mean ± std over the seeds.

Every run is `octave-cli run_demo.m` with the Make variables as environment; with --jobs > 1 the runs share the
cores (OpenBLAS and the loss each get one thread per run).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = [("raw", "raw pixels"), ("untrained", "untrained network"), ("trained", "trained network")]
METRICS = ["recall_at_1", "recall_at_2", "recall_at_4", "recall_at_8", "nmi"]

# The configurations compared on the validation split (README, "How the recipe was chosen").
DEFAULT_CONFIGS = {
    "lr 0.005 fixed (the previous recipe)": {"LR_POLICY": "fixed", "SHIFT": "0"},
    "lr 0.005 poly": {"LR_POLICY": "poly", "SHIFT": "0"},
    "lr 0.01 poly": {"BASE_LR": "0.01", "LR_POLICY": "poly", "SHIFT": "0"},
    "lr 0.0025 poly": {"BASE_LR": "0.0025", "LR_POLICY": "poly", "SHIFT": "0"},
    "lr 0.005 poly, 4000 iterations": {"ITERS": "4000", "LR_POLICY": "poly", "SHIFT": "0"},
    "lr 0.005 poly, embedding 128": {"DIM": "128", "LR_POLICY": "poly", "SHIFT": "0"},
    "lr 0.005 poly, augmentation": {"LR_POLICY": "poly", "SHIFT": "2"},
    "lr 0.01 poly, augmentation": {"BASE_LR": "0.01", "LR_POLICY": "poly", "SHIFT": "2"},
    "lr 0.0025 poly, augmentation": {"BASE_LR": "0.0025", "LR_POLICY": "poly", "SHIFT": "2"},
    "lr 0.005 poly, augmentation, 4000 iterations": {"ITERS": "4000", "LR_POLICY": "poly", "SHIFT": "2"},
    "lr 0.005 poly, augmentation, embedding 128": {"DIM": "128", "LR_POLICY": "poly", "SHIFT": "2"},
}


def run_one(out, env_extra, log):
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    env.update(env_extra)
    env["OUT"] = out
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("RLL_CAFFE_ROOT", os.path.join(REPO, "build", "caffe"))
    cmd = ["octave-cli", "--no-gui", "--no-window-system", "--eval", "run('matlab/demo/run_demo.m')"]
    t0 = time.time()
    with open(os.path.join(out, "demo.log"), "w") as f:
        rc = subprocess.call(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    log(f"{out}: exit {rc} after {time.time() - t0:.0f} s")
    if rc != 0:
        with open(os.path.join(out, "demo.log")) as f:
            sys.stdout.write(f.read()[-3000:])
        raise SystemExit(f"demo_runs: the run in {out} failed (log: {out}/demo.log)")
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f)


def run_all(jobs_list, jobs):
    def log(s):
        print(f"[demo_runs {time.strftime('%H:%M:%S')}] {s}", flush=True)

    extra = {}
    if jobs > 1:
        extra = {"OPENBLAS_NUM_THREADS": "1", "RLL_NUM_THREADS": "1"}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, out, {**extra, **env}, log) for out, env in jobs_list]
        return [f.result() for f in futures]


def mean_std(values):
    m = statistics.fmean(values)
    s = statistics.stdev(values) if len(values) > 1 else 0.0
    return m, s


def protocol_rows(results, key):
    """{model: {metric: [values over runs]}} for protocol `key` ('unseen' is the top level of results.json)."""
    rows = {}
    for model, _ in MODELS:
        rows[model] = {
            m: [(r[model] if key == "unseen" else r[key][model])[m] for r in results] for m in METRICS
        }
    return rows


def floors(results):
    """The issue's floors for one run: [(description, ok)]."""
    s, u = results["seen"], results
    r1 = lambda t, m: t[m]["recall_at_1"]
    return [
        ("seen R@1 of the trained network >= 0.90", r1(s, "trained") >= 0.90),
        ("seen R@1 trained >= raw pixels + 0.04", r1(s, "trained") >= r1(s, "raw") + 0.04),
        ("seen R@1 trained >= untrained + 0.04", r1(s, "trained") >= r1(s, "untrained") + 0.04),
        ("unseen R@1 trained > raw pixels", r1(u, "trained") > r1(u, "raw")),
        ("unseen R@1 trained > untrained", r1(u, "trained") > r1(u, "untrained")),
    ]


def seeds_command(a):
    seeds = [int(s) for s in a.seeds.split(",")]
    env = {k: v for k, v in (kv.split("=", 1) for kv in a.set)}
    results = run_all([(os.path.join(a.out, f"seed{s}"), {**env, "SEED": str(s)}) for s in seeds], a.jobs)
    lines = [
        f"`make demo-seeds`: {len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± std over the seeds;"
        f" {results[0]['iterations']} iterations, semantics {results[0]['semantics']}.",
        "",
        "| protocol | features | R@1 | R@2 | R@4 | R@8 | NMI |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = {"seeds": seeds, "runs": results}
    for key, title in [("seen", "seen classes 0-4"), ("unseen", "unseen classes 5-9")]:
        rows = protocol_rows(results, key)
        summary[key] = {}
        for model, name in MODELS:
            cells = []
            summary[key][model] = {}
            for m in METRICS:
                mu, sd = mean_std(rows[model][m])
                summary[key][model][m] = {"mean": mu, "std": sd}
                cells.append(f"{mu:.4f} ± {sd:.4f}")
            lines.append(f"| {title} | {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| seed | seen R@1 raw / untrained / trained | unseen R@1 raw / untrained / trained | floors |")
    lines.append("|---|---|---|---|")
    all_ok = True
    for s, r in zip(seeds, results):
        checks = floors(r)
        ok = all(c[1] for c in checks)
        all_ok &= ok
        failed = "; ".join(c[0] for c in checks if not c[1])
        seen = " / ".join(f"{r['seen'][m]['recall_at_1']:.4f}" for m, _ in MODELS)
        unseen = " / ".join(f"{r[m]['recall_at_1']:.4f}" for m, _ in MODELS)
        lines.append(f"| {s} | {seen} | {unseen} | {'met' if ok else 'NOT met: ' + failed} |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"demo-seeds: floors {'met for every seed' if all_ok else 'NOT met for some seed'}")
    return 0 if all_ok else 1


def tune_command(a):
    configs = DEFAULT_CONFIGS
    if a.configs:
        configs = {}
        for c in a.configs:
            name, _, rest = c.partition("=")
            configs[name] = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    seeds = [int(s) for s in a.seeds.split(",")]
    jobs, keys = [], []
    for i, (name, env) in enumerate(configs.items()):
        for s in seeds:
            # Each configuration states what it changes from the defaults below, so the table does not depend on
            # the Make variables of the call.
            base = {"BASE_LR": "0.005", "ITERS": "2000", "DIM": "64", "LR_POLICY": "poly", "SHIFT": "0"}
            jobs.append((os.path.join(a.out, f"config{i}_seed{s}"),
                         {**base, "SPLIT": "validation", "PLOT": "0", **env, "SEED": str(s)}))
            keys.append(name)
    results = run_all(jobs, a.jobs)
    lines = ["| configuration | validation R@1 (trained) | untrained | raw pixels | NMI (trained) |",
             "|---|---|---|---|---|"]
    for name in configs:
        rs = [r for k, r in zip(keys, results) if k == name]
        cell = lambda m, metric: "%.4f ± %.4f" % mean_std([r["validation"][m][metric] for r in rs])
        lines.append(f"| {name} | {cell('trained', 'recall_at_1')} | {cell('untrained', 'recall_at_1')} | "
                     f"{cell('raw', 'recall_at_1')} | {cell('trained', 'nmi')} |")
    text = f"Validation split, seeds {a.seeds}:\n\n" + "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.out, "tune.md"), "w") as f:
        f.write(text)
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seeds")
    s.add_argument("--seeds", default="1,2,3,4,5")
    s.add_argument("--out", default="demo_seeds")
    s.add_argument("--jobs", type=int, default=1)
    s.add_argument("--set", nargs="*", default=[], help="VAR=VALUE passed to every run (ITERS=..., ...)")
    t = sub.add_parser("tune")
    t.add_argument("--seeds", default="1,2")
    t.add_argument("--out", default="demo_tune")
    t.add_argument("--jobs", type=int, default=2)
    t.add_argument("--configs", nargs="*")
    a = p.parse_args()
    return seeds_command(a) if a.cmd == "seeds" else tune_command(a)


if __name__ == "__main__":
    sys.exit(main())
