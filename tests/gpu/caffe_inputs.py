#!/usr/bin/env python3
"""Nets, solvers and HDF5 inputs for the Caffe GPU check (tests/gpu/caffe_gpu_check.sh), written into one folder:

  tiny/         prototxt/tiny's net and solver (12-D features, 4 classes x 3 per batch), MAX_ITER iterations
  googlenet/    prototxt/cub/original (GoogLeNet-BN, three DistanceWeightedValidPairLossV12 heads, the GR solver
                fields) with its legacy inputs replaced by HDF5Data: a fixed set of random images, 3 per class in
                batch order, that the net can learn to tell apart (so the loss has somewhere to fall)
  time/         prototxt/cub/rll (three RankedListLoss heads) at batch TIME_BATCH for `caffe time`, and a net of the
                loss heads alone at 180x512 (three 512-D inputs; two L2-normalised as in the paper)

Usage: caffe_inputs.py OUT_DIR --mode GPU|CPU [--iters N] [--batch B] [--images M] [--time-batch T]
Needs numpy and h5py (both on the GPU machine's Python).
"""
import argparse
import os
import re
import shutil

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LEGACY_INPUTS = (r'input: "data"\s*input_dim: \d+\s*input_dim: 3\s*input_dim: 227\s*input_dim: 227\s*'
                 r'input: "label"\s*input_dim: \d+\s*input_dim: 1\s*input_dim: 1\s*input_dim: 1\s*')


def hdf5_layer(source, batch, tops=("data", "label")):
    top_lines = "".join(f'  top: "{t}"\n' for t in tops)
    return (f'layer {{\n  name: "inputs"\n  type: "HDF5Data"\n{top_lines}'
            f'  hdf5_data_param {{\n    source: "{source}"\n    batch_size: {batch}\n  }}\n}}\n')


def with_hdf5_inputs(text, source, batch):
    """The original net's legacy `input:` blobs replaced by an HDF5Data layer with the same tops."""
    text, n = re.subn(LEGACY_INPUTS, "", text)
    assert n == 1, "the net's legacy inputs were not found"
    i = text.index("layer {")
    return text[:i] + hdf5_layer(source, batch) + text[i:]


def write_h5(folder, name, arrays):
    with h5py.File(os.path.join(folder, name + ".h5"), "w") as f:
        for k, v in arrays.items():
            f[k] = v.astype(np.float32)
    with open(os.path.join(folder, name + "_list.txt"), "w") as f:
        f.write(name + ".h5\n")
    return name + "_list.txt"


def solver(net, iters, mode, extra=""):
    return (f'net: "{net}"\ntype: "SGD"\nbase_lr: 0.001\nlr_policy: "fixed"\nmomentum: 0.9\nweight_decay: 2e-05\n'
            f"max_iter: {iters}\ndisplay: 1\nsnapshot: 0\nsolver_mode: {mode}\nrandom_seed: 7\n{extra}")


def tiny(out, mode, iters):
    work = os.path.join(out, "tiny")
    os.makedirs(work)
    shutil.copy(os.path.join(REPO, "prototxt", "tiny", "train.prototxt"), work)
    with open(os.path.join(REPO, "prototxt", "tiny", "solver.prototxt")) as f:
        s = f.read()
    s = re.sub(r"max_iter: \d+", f"max_iter: {iters}", s)
    s = re.sub(r"solver_mode: \w+", f"solver_mode: {mode}", s)
    with open(os.path.join(work, "solver.prototxt"), "w") as f:
        f.write(s)
    with open(os.path.join(work, "solver_short.prototxt"), "w") as f:
        f.write(re.sub(r"max_iter: \d+", "max_iter: 5", s))
    # As tests/caffe/test_caffe.py: 4 classes x 3 samples per batch of 12, well-separated centres plus noise.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 12))
    labels = np.tile(np.repeat(np.arange(4), 3), 60) + 4 * np.repeat(np.arange(60) % 2, 12)
    data = centres[labels] + 0.6 * rng.normal(size=(labels.size, 12))
    write_h5(work, "tiny_train", {"data": data, "label": labels})


def googlenet_net(work, variant, name, batch, count, rng):
    """prototxt/cub/<variant>/train.prototxt as work/<name> reading `count` random images 3x227x227 (pixel scale,
    zero mean; 3 per class, classes in file order) from work/images.h5 in batches of `batch`."""
    data, labels = rng.normal(scale=50, size=(count, 3, 227, 227)), np.repeat(np.arange(count // 3), 3)
    src = write_h5(work, "images", {"data": data, "label": labels})
    with open(os.path.join(REPO, "prototxt", "cub", variant, "train.prototxt")) as f:
        net = with_hdf5_inputs(f.read(), src, batch)
    with open(os.path.join(work, name), "w") as f:
        f.write(net)


def googlenet(out, mode, iters, batch, count):
    work = os.path.join(out, "googlenet")
    os.makedirs(work)
    googlenet_net(work, "original", "train.prototxt", batch, count, np.random.default_rng(1))
    # The original solver's GR fields (docs/semantics.md), equal to the layers' own values.
    gr = "negative_threshold: 1.4\npn_margin: 0.2\np_temperature: 0\nn_temperature: 10\n"
    with open(os.path.join(work, "solver.prototxt"), "w") as f:
        f.write(solver("train.prototxt", iters, mode, gr))


def timing(out, time_batch):
    work = os.path.join(out, "time")
    os.makedirs(work)
    rng = np.random.default_rng(2)
    googlenet_net(work, "rll", "googlenet.prototxt", time_batch, time_batch, rng)
    # The loss heads alone at the paper's 180x512: three embeddings of 60 classes x 3, close enough that both sets
    # are populated.
    n, d = 180, 512
    y = np.repeat(np.arange(n // 3), 3)
    centres = rng.normal(size=(n // 3, d))
    embs = {f"e{h}": centres[y] + rng.normal(scale=0.8, size=(n, d)) for h in range(3)}
    embs["e0"] *= 0.5 / np.linalg.norm(embs["e0"], axis=1, keepdims=True)
    src = write_h5(work, "emb", dict(embs, label=y))
    text = hdf5_layer(src, n, ("e0", "e1", "e2", "label"))
    text += "force_backward: true\n"
    for h, bottom in ((0, "e0"), (1, "n1"), (2, "n2")):
        if h:
            text += (f'layer {{\n  name: "norm{h}"\n  type: "Normalization"\n  bottom: "e{h}"\n  top: "n{h}"\n'
                     "  normalization_param { norm: L2 }\n}\n")
        text += (f'layer {{\n  name: "loss{h}"\n  type: "RankedListLoss"\n  bottom: "{bottom}"\n  bottom: "label"\n'
                 f'  top: "loss{h}"\n  propagate_down: true\n  propagate_down: false\n  loss_weight: 1\n'
                 "  ranked_list_loss_param { margin: 0.2 alpha: 1.4 t_n: 10 t_p: 0 }\n}\n")
    with open(os.path.join(work, "heads.prototxt"), "w") as f:
        f.write('name: "rll_heads_180x512"\n' + text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--mode", choices=("GPU", "CPU"), default="GPU")
    ap.add_argument("--iters", type=int, default=200, help="GoogLeNet-BN training iterations")
    ap.add_argument("--tiny-iters", type=int, default=200)
    ap.add_argument("--batch", type=int, default=60, help="GoogLeNet-BN training batch (P x 3)")
    ap.add_argument("--images", type=int, default=180, help="images in the GoogLeNet-BN training set")
    ap.add_argument("--time-batch", type=int, default=180)
    a = ap.parse_args()
    assert a.batch % 3 == 0 and a.images % a.batch == 0, "batches of whole classes (3 images each)"
    shutil.rmtree(a.out, ignore_errors=True)
    os.makedirs(a.out)
    tiny(a.out, a.mode, a.tiny_iters)
    googlenet(a.out, a.mode, a.iters, a.batch, a.images)
    timing(a.out, a.time_batch)


if __name__ == "__main__":
    main()
