#!/usr/bin/env python3
"""The main job's protocol in PyTorch (make demo-torch; docs/pytorch.md): the demo's convnet (prototxt/fashion_mnist:
conv 5×5×32, ReLU, max-pool, conv 5×5×64, ReLU, max-pool, FC 256, ReLU, FC 128, L2 normalisation), its recipe (SGD,
base_lr 0.005 with the poly policy, momentum 0.9, weight decay 2e-5, 2,000 iterations, P×K = 5×12 batches of the
seen classes 0-4, Caffe's uniform fillers) and seed, trained once with our RankedListLoss and once with
pytorch-metric-learning's (the same loss, PAPER with m = 0.4, α = 1.2, T_n = 10: PML with imbalance 0.5 times 2,
so that both have λ = 1), then Recall@1/2/4/8 and NMI on the test images of the seen and the unseen classes (every
image a query against the others of its protocol, cosine similarity; k-means++ with k = 5 for NMI, as
matlab/eval), and the time per training step and per loss call of each, side by side.

Usage: tools/demo_torch.py [--seed 1] [--iters 2000] [--data /usr/share/datasets/fashion-mnist] [--out FILE]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import struct
import time
import warnings

import numpy as np
import ranked_list_loss as rll
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import RankedListLoss as PmlLoss
from torch import nn

KS = (1, 2, 4, 8)


def read_idx(path: str) -> np.ndarray:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[:3] != b"\x00\x00\x08":
        raise SystemExit(f"demo_torch: {path} is not an IDX file of unsigned bytes")
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(root: str, stem: str) -> tuple[torch.Tensor, torch.Tensor]:
    def find(name: str) -> str:
        for ext in (".gz", ""):
            if os.path.exists(os.path.join(root, name + ext)):
                return os.path.join(root, name + ext)
        raise SystemExit(f"demo_torch: {name}(.gz) not found in {root} (apt-get install dataset-fashion-mnist)")

    images = read_idx(find(f"{stem}-images-idx3-ubyte")).astype(np.float32) / 255
    labels = read_idx(find(f"{stem}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels)


def uniform_(layer: nn.Module, bound: float) -> nn.Module:
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)
    return layer


def convnet() -> nn.Module:
    """The demo's net with Caffe's fillers of prototxt/fashion_mnist/train.prototxt."""
    return nn.Sequential(
        uniform_(nn.Conv2d(1, 32, 5), 0.2), nn.ReLU(), nn.MaxPool2d(2),
        uniform_(nn.Conv2d(32, 64, 5), 0.0353553), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        uniform_(nn.Linear(64 * 4 * 4, 256), 0.03125), nn.ReLU(),
        uniform_(nn.Linear(256, 128), 0.0625),
    )


def embed(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([F.normalize(net(images[k:k + 500]), dim=1) for k in range(0, len(images), 500)])


def recall_at_k(features: torch.Tensor, labels: torch.Tensor) -> list[float]:
    q = F.normalize(features.double(), dim=1)
    hits = torch.zeros(len(KS))
    for r0 in range(0, len(q), 1024):
        sim = q[r0:r0 + 1024] @ q.T
        sim[torch.arange(sim.shape[0]), torch.arange(r0, r0 + sim.shape[0])] = -math.inf
        top = labels[sim.topk(max(KS), dim=1).indices]
        match = top == labels[r0:r0 + sim.shape[0], None]
        for i, k in enumerate(KS):
            hits[i] += match[:, :k].any(dim=1).sum()
    return (hits / len(q)).tolist()


def nmi(features: torch.Tensor, labels: torch.Tensor, seed: int, iters: int = 100) -> float:
    """k-means++ (k = number of classes) on the L2-normalised features, then 2 I / (H(clusters) + H(classes))."""
    x = F.normalize(features.double(), dim=1)
    k = int(labels.unique().numel())
    g = torch.Generator().manual_seed(seed)
    centres = [x[torch.randint(len(x), (1,), generator=g)].squeeze(0)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        pick = torch.multinomial(d2 / d2.sum(), 1, generator=g)
        centres.append(x[pick].squeeze(0))
        d2 = torch.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = torch.stack(centres)
    assign = None
    for _ in range(iters):
        new = torch.cdist(x, c).argmin(1)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        c = torch.stack([x[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(k)])
    joint = torch.zeros(k, int(labels.max()) + 1, dtype=torch.float64)
    joint.index_put_((assign, labels), torch.ones(len(labels), dtype=torch.float64), accumulate=True)
    joint = joint[:, joint.sum(0) > 0] / len(labels)
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    nz = joint > 0
    mutual = (joint[nz] * (joint[nz] / (pa * pb)[nz]).log()).sum()

    def h(p: torch.Tensor) -> torch.Tensor:
        return -(p[p > 0] * p[p > 0].log()).sum()

    denominator = h(pa) + h(pb)
    return 1.0 if denominator == 0 else float(2 * mutual / denominator)


def train(loss_name: str, images: torch.Tensor, labels: torch.Tensor, seed: int, iters: int) -> dict:
    torch.manual_seed(seed)
    net = convnet()
    untrained = {k: v.clone() for k, v in net.state_dict().items()}
    if loss_name == "ours":
        crit = rll.RankedListLoss(margin=0.4, alpha=1.2, t_n=10.0)
    else:
        pml = PmlLoss(margin=0.4, Tn=10, alpha=1.2, imbalance=0.5)

        def crit(e, y):
            return 2 * pml(e, y)

    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, weight_decay=2e-5)
    by_class = [torch.nonzero(labels == c).squeeze(1) for c in range(5)]
    g = torch.Generator().manual_seed(seed)
    steps, loss_times, losses = [], [], []
    for it in range(iters):
        for group in opt.param_groups:
            group["lr"] = 0.005 * (1 - it / iters)  # Caffe's poly policy, power 1
        idx = torch.cat([members[torch.randperm(len(members), generator=g)[:12]] for members in by_class])
        t0 = time.perf_counter()
        opt.zero_grad()
        e = F.normalize(net(images[idx]), dim=1)
        # The loss's own forward and backward, to its input, timed apart from the network's.
        leaf = e.detach().requires_grad_(True)
        t1 = time.perf_counter()
        loss = crit(leaf, labels[idx])
        loss.backward()
        t2 = time.perf_counter()
        e.backward(leaf.grad)
        opt.step()
        steps.append(time.perf_counter() - t0)
        loss_times.append(t2 - t1)
        losses.append(loss.item())
        if (it + 1) % max(1, iters // 10) == 0:
            print(f"[demo-torch] {loss_name}: iteration {it + 1}/{iters}, loss {statistics.mean(losses[-50:]):.4f}",
                  flush=True)
    return {"net": net, "untrained": untrained, "step_ms": 1e3 * statistics.median(steps),
            "loss_ms": 1e3 * statistics.median(loss_times), "seconds": sum(steps), "first": losses[:50],
            "last": losses[-50:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="demo_torch_out/results.json")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
    train_x, train_y = load(args.data, "train")
    test_x, test_y = load(args.data, "t10k")
    seen = train_y <= 4
    train_x, train_y = train_x[seen], train_y[seen]
    protocols = {"seen classes 0-4": test_y <= 4, "unseen classes 5-9": test_y >= 5}
    print(f"[demo-torch] {len(train_y)} training images of classes 0-4, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, seed {args.seed}", flush=True)
    runs = {name: train(name, train_x, train_y, args.seed, args.iters) for name in ("ours", "pml")}
    results = {"seed": args.seed, "iterations": args.iters, "protocols": {}}
    print(f"\n{'protocol':<20} {'features':<26} {'R@1':>7} {'R@2':>7} {'R@4':>7} {'R@8':>7} {'NMI':>7}")
    for pname, mask in protocols.items():
        x, y = test_x[mask], test_y[mask]
        rows = {"raw pixels": x.flatten(1)}
        fresh = convnet()
        fresh.load_state_dict(runs["ours"]["untrained"])
        rows["untrained network"] = embed(fresh, x)
        for name, run in runs.items():
            rows[f"trained with {'ours' if name == 'ours' else 'PML'}"] = embed(run["net"], x)
        results["protocols"][pname] = {}
        for fname, feats in rows.items():
            r = recall_at_k(feats, y) + [nmi(feats, y, args.seed)]
            results["protocols"][pname][fname] = dict(zip(["R@1", "R@2", "R@4", "R@8", "NMI"], r))
            print(f"{pname:<20} {fname:<26} " + " ".join(f"{v:7.4f}" for v in r))
    print(f"\n{'loss':<6} {'ms per training step':>21} {'ms per loss (fwd+bwd)':>22} {'training s':>11}")
    for name, run in runs.items():
        print(f"{'ours' if name == 'ours' else 'PML':<6} {run['step_ms']:21.2f} {run['loss_ms']:22.3f} "
              f"{run['seconds']:11.1f}")
        results[name] = {k: run[k] for k in ("step_ms", "loss_ms", "seconds")}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(f"[demo-torch] wrote {args.out}")


if __name__ == "__main__":
    main()
