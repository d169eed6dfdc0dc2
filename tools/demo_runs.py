#!/usr/bin/env python3
"""Runs the demo (matlab/demo/run_demo.m in octave-cli) several times and summarises the runs.

  demo_runs.py seeds [--seeds 1,2,3,4,5] [--out demo_seeds] [--jobs 1]
      The reported protocol, one run per seed: mean ± std of every row of the two-protocol table, written to
      OUT/summary.md and OUT/summary.json, and the issue's floors checked for every seed (exit 1 if one fails).
  demo_runs.py tune [--seeds 1,2] [--splits validation,classes1,classes2] [--out demo_tune] [--jobs 2]
                    [--configs NAME=VAR=V,VAR=V ...]
      Recipe selection on validation splits of the seen classes' training images (no test image is read):
      'validation' holds out images of the five seen classes; 'classes1'/'classes2' hold out two seen classes
      whole and train on the other three (a zero-shot proxy). Recall@1 of the trained network per configuration
      and split, mean ± std over the seeds (and over both class folds).

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

# The configurations compared on the validation split (docs/demo.md, "How the recipe was chosen").
DEFAULT_CONFIGS = {
    "lr 0.005 fixed, 2000 iterations (the previous recipe)": {"LR_POLICY": "fixed"},
    "lr 0.005 poly, 2000 iterations": {},
    "lr 0.005 poly, 1000 iterations": {"ITERS": "1000"},
    "lr 0.005 poly, 4000 iterations": {"ITERS": "4000"},
    "lr 0.0025 poly, 2000 iterations": {"BASE_LR": "0.0025"},
    "lr 0.005 poly, 2000 iterations, augmentation": {"SHIFT": "2"},
    "lr 0.005 poly, 2000 iterations, embedding 128": {"DIM": "128"},
    "lr 0.005 poly, 4000 iterations, embedding 128": {"DIM": "128", "ITERS": "4000"},
    "lr 0.005 poly, 2000 iterations, embedding 256": {"DIM": "256"},
}


def same_settings(result, env):
    """Whether a results.json was made with the settings of `env` (for --reuse)."""
    want = {"seed": ("SEED", int), "split": ("SPLIT", str), "iterations": ("ITERS", int),
            "base_lr": ("BASE_LR", float), "lr_policy": ("LR_POLICY", str), "shift": ("SHIFT", int),
            "dim": ("DIM", int)}
    return all(k in result and var in env and result[k] == conv(env[var]) for k, (var, conv) in want.items())


REUSE = False


def run_one(out, env_extra, log):
    out = os.path.abspath(out)  # Octave's run() works in the script's folder
    os.makedirs(out, exist_ok=True)
    done = os.path.join(out, "results.json")
    if REUSE and os.path.exists(done):
        with open(done) as f:
            result = json.load(f)
        if same_settings(result, env_extra):
            log(f"{out}: reused")
            return result
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
    splits = a.splits.split(",")
    jobs, keys = [], []
    # Each configuration states what it changes from these defaults, so the table does not depend on the Make
    # variables of the call.
    base = {"BASE_LR": "0.005", "ITERS": "2000", "DIM": "64", "LR_POLICY": "poly", "SHIFT": "0"}
    for i, (name, env) in enumerate(configs.items()):
        for split in splits:
            for s in seeds:
                jobs.append((os.path.join(a.out, f"config{i}_{split}_seed{s}"),
                             {**base, "SPLIT": split, "PLOT": "0", **env, "SEED": str(s)}))
                keys.append((name, split, s))
    results = run_all(jobs, a.jobs)

    def r1(rs, split, model):
        """Recall@1 per seed: of the split, or (split 'classes') the mean of the two class folds."""
        per_seed = {}
        for (_, sp, seed), r in rs:
            if sp == split or (split == "classes" and sp.startswith("classes")):
                key = "validation" if sp == "validation" else "heldout"
                per_seed.setdefault(seed, []).append(r[key][model]["recall_at_1"])
        return [statistics.fmean(v) for v in per_seed.values()]

    groups = []
    if "validation" in splits:
        groups.append(("validation", "held-out images of the seen classes"))
    if any(sp.startswith("classes") for sp in splits):
        groups.append(("classes", "held-out seen classes (mean of 2 folds)"))
    header = "| configuration | " + " | ".join(f"{t}: trained | untrained | raw" for _, t in groups)
    both = len(groups) == 2
    header += " | mean of the two trained columns (the criterion) |" if both else " |"
    lines = [header, "|---|" + "---|---|---|" * len(groups) + ("---|" if both else "")]
    for name in configs:
        rs = [(k, r) for k, r in zip(keys, results) if k[0] == name]
        cells = []
        for split, _ in groups:
            for model in ("trained", "untrained", "raw"):
                cells.append("%.4f ± %.4f" % mean_std(r1(rs, split, model)))
        if both:
            cells.append("%.4f" % statistics.fmean(statistics.fmean(r1(rs, g, "trained")) for g, _ in groups))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = (f"Recall@1 on validation splits, mean ± std over seeds {a.seeds}:\n\n" + "\n".join(lines) + "\n")
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
    t.add_argument("--splits", default="validation,classes1,classes2")
    t.add_argument("--out", default="demo_tune")
    t.add_argument("--jobs", type=int, default=2)
    t.add_argument("--configs", nargs="*")
    t.add_argument("--reuse", action="store_true", help="keep runs whose results.json has the same settings")
    a = p.parse_args()
    global REUSE
    REUSE = getattr(a, "reuse", False)
    return seeds_command(a) if a.cmd == "seeds" else tune_command(a)


if __name__ == "__main__":
    sys.exit(main())
