#!/usr/bin/env python3
"""Inputs for `make test-fork` (tests/fork/test_fork.sh), written into one folder:

  inshop/          the authors' own In-shop 2020 train.prototxt (three DistanceWeightedValidPairLossV12 heads,
                   unchanged) with its legacy `input:` blobs replaced by HDF5Data over random images (3 per class),
                   and a solver with their GR fields (pn_margin 0.4, p_temperature 0, n_temperature 12)
  heads_<N>.prototxt  Normalization -> DistanceWeightedValidPairLossV12 (their In-shop head: pn_margin 0.4, T_p 0,
                   T_n 12) on N x 512 embeddings of N/3 classes x 3, for `caffe time` before and after the upgrade

Usage: fork_inputs.py OUT_DIR --inshop <their train.prototxt> [--batch B] [--iters N] [--sizes 60,180,360]
"""
import argparse
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gpu"))
from caffe_inputs import hdf5_layer, solver, with_hdf5_inputs, write_h5  # noqa: E402

HEAD = ('layer {{\n  name: "norm"\n  type: "Normalization"\n  bottom: "emb"\n  top: "emb/norm"\n}}\n'
        'layer {{\n  name: "loss"\n  type: "DistanceWeightedValidPairLossV12"\n  bottom: "emb/norm"\n'
        '  bottom: "label"\n  top: "loss"\n  loss_weight: 1\n  contrastive_loss_param_v2 {{ pn_margin: 0.4 }}\n'
        '  softmax_t_p_param {{ scale: 0 }}\n  softmax_t_n_param {{ scale: 12 }}\n  propagate_down: 1\n'
        '  propagate_down: 0\n}}\n')


def inshop(out, prototxt, batch, iters):
    work = os.path.join(out, "inshop")
    os.makedirs(work)
    rng = np.random.default_rng(1)
    count = 2 * batch
    data, labels = rng.normal(scale=50, size=(count, 3, 227, 227)), np.repeat(np.arange(count // 3), 3)
    src = write_h5(work, "images", {"data": data, "label": labels})
    with open(prototxt) as f:
        net = with_hdf5_inputs(f.read(), src, batch)
    with open(os.path.join(work, "train.prototxt"), "w") as f:
        f.write(net)
    gr = "pn_margin: 0.4\np_temperature: 0\nn_temperature: 12\n"  # their In-shop solver's GR targets
    with open(os.path.join(work, "solver.prototxt"), "w") as f:
        f.write(solver("train.prototxt", iters, "CPU", gr))


def heads(out, n, d=512):
    rng = np.random.default_rng(n)
    y = np.repeat(np.arange(n // 3), 3)
    centres = rng.normal(size=(n // 3, d))
    emb = centres[y] + rng.normal(scale=0.8, size=(n, d))
    src = write_h5(out, f"emb_{n}", {"emb": emb, "label": y})
    text = f'name: "v12_head_{n}x{d}"\nforce_backward: true\n' + hdf5_layer(src, n, ("emb", "label")) + HEAD.format()
    with open(os.path.join(out, f"heads_{n}.prototxt"), "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--inshop", required=True)
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--iters", type=int, default=6)
    ap.add_argument("--sizes", default="60,180,360")
    a = ap.parse_args()
    assert a.batch % 3 == 0
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    inshop(a.out, a.inshop, a.batch, a.iters)
    for n in map(int, a.sizes.split(",")):
        heads(a.out, n)


if __name__ == "__main__":
    main()
