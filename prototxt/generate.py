#!/usr/bin/env python3
"""Writes the example nets and solvers of prototxt/ (run from anywhere; the files are committed); --check fails,
naming them, where the committed files differ from its output (make lint).

  tiny/                      a small net for tests: HDF5 features -> FC -> Normalization -> RankedListLoss
  fashion_mnist/             the main job's convnet (make demo); train_memory.prototxt with a cross-batch memory
  <dataset>/rll/             the paper's layout with type "RankedListLoss" (PAPER semantics)
  <dataset>/original/        the same nets written like the original release (legacy inputs,
                             DistanceWeightedValidPairLossV12 with contrastive_loss_param_v2, softmax_t_*_param)
  <dataset>/deploy_prototxts/test_{H,L,M,concat}.prototxt   the embeddings as blob pool5/7x7_s1
for dataset in sop, cub, inshop; each style with train.prototxt and solver.prototxt.

The paper's layout (docs/caffe.md): a GoogLeNet-BN (BN-Inception) backbone and three embedding heads L (from
inception_3c), M (from inception_4e) and H (from inception_5b), each Reshape -> Normalization -> loss, P x K = 60 x 3.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# BN-Inception modules: (name, 1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool, pool proj, stride).
INCEPTION = [
    ("3a", 64, 64, 64, 64, 96, "AVE", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "AVE", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "MAX", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "AVE", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "AVE", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "AVE", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "AVE", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "MAX", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "AVE", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "MAX", 128, 1),
]

# Per data set: batch P x K, embedding size D, loss settings (the paper's settings), solver.
DATASETS = {
    "sop": dict(title="Stanford Online Products", p=60, k=3, dim=512,
                rll="margin: 0.4 alpha: 1.2 t_n: 10 t_p: 0",
                original="contrastive_loss_param_v2 { margin: 1.2 pn_margin: 0.4 }",
                t_n=10, base_lr=0.01, gamma=0.5, steps=[5000, 10000, 15000], max_iter=20000, wd=1e-5, fc_mult=10,
                solver_extra=""),
    "cub": dict(title="CUB-200-2011", p=60, k=3, dim=512,
                rll="margin: 0.2 alpha: 1.4 t_n: 10 t_p: 0",
                original="contrastive_loss_param_v2 { negative_threshold: 1.4 pn_margin: 0.2 }",
                t_n=10, base_lr=0.001, gamma=0.5, steps=[2000, 4000, 6000, 8000], max_iter=10000, wd=2e-5,
                fc_mult=100,
                solver_extra="negative_threshold: 1.4\npn_margin: 0.2\np_temperature: 0\nn_temperature: 10\n"),
    "inshop": dict(title="In-shop Clothes Retrieval", p=60, k=3, dim=128,
                   rll="margin: 0.4 alpha: 1.2 t_n: 12 t_p: 0",
                   original="contrastive_loss_param_v2 { pn_margin: 0.4 }",
                   t_n=12, base_lr=0.01, gamma=0.2, steps=[12000, 24000], max_iter=30000, wd=2e-5, fc_mult=10,
                   solver_extra="pn_margin: 0.4\np_temperature: 0\nn_temperature: 12\n"),
}


class Net:
    def __init__(self, name):
        self.lines = [f'name: "{name}"']

    def add(self, text):
        self.lines.append(text)

    def layer(self, name, type_, bottoms, tops, body=""):
        b = "".join(f'  bottom: "{x}"\n' for x in bottoms)
        t = "".join(f'  top: "{x}"\n' for x in tops)
        self.add(f'layer {{\n  name: "{name}"\n  type: "{type_}"\n{b}{t}{body}}}')

    def conv_bn(self, name, bottom, out, k, stride=1, pad=None):
        """Convolution (no bias, xavier) -> BatchNorm -> Scale (the BN affine) -> ReLU, as the original."""
        pad = (k - 1) // 2 if pad is None else pad
        self.layer(name, "Convolution", [bottom], [name],
                   "  param { lr_mult: 1 decay_mult: 1 }\n"
                   f"  convolution_param {{\n    num_output: {out}\n    bias_term: false\n    pad: {pad}\n"
                   f"    kernel_size: {k}\n    stride: {stride}\n    weight_filler {{ type: \"xavier\" }}\n  }}\n")
        self.layer(f"{name}/bn", "BatchNorm", [name], [f"{name}/bn"])
        self.layer(f"{name}/bn/sc", "Scale", [f"{name}/bn"], [f"{name}/bn/sc"], "  scale_param { bias_term: true }\n")
        self.layer(f"{name}/bn/sc/relu", "ReLU", [f"{name}/bn/sc"], [f"{name}/bn/sc"])
        return f"{name}/bn/sc"

    def pool(self, name, bottom, kind, k, stride, pad=0):
        self.layer(name, "Pooling", [bottom], [name],
                   f"  pooling_param {{\n    pool: {kind}\n    kernel_size: {k}\n    stride: {stride}\n"
                   f"    pad: {pad}\n  }}\n")
        return name

    def fc(self, name, bottom, out, lr_mult=1, top=None):
        self.layer(name, "InnerProduct", [bottom], [top or name],
                   f"  param {{ lr_mult: {lr_mult} decay_mult: 1 }}\n"
                   f"  inner_product_param {{\n    num_output: {out}\n    bias_term: false\n"
                   "    weight_filler { type: \"xavier\" }\n  }\n")
        return top or name

    def text(self):
        return "\n".join(self.lines) + "\n"


def backbone(net, data="data"):
    """BN-Inception up to inception_5b; returns the outputs of 3c, 4e and 5b."""
    x = net.conv_bn("conv1/7x7_s2", data, 64, 7, stride=2)
    x = net.pool("pool1/3x3_s2", x, "MAX", 3, 2)
    x = net.conv_bn("conv2/3x3_reduce", x, 64, 1)
    x = net.conv_bn("conv2/3x3", x, 192, 3)
    x = net.pool("pool2/3x3_s2", x, "MAX", 3, 2)
    outs = {}
    for name, c1, r3, c3, rd, cd, pool, proj, stride in INCEPTION:
        p = f"inception_{name}"
        branches = []
        if c1:
            branches.append(net.conv_bn(f"{p}/1x1", x, c1, 1))
        y = net.conv_bn(f"{p}/3x3_reduce", x, r3, 1)
        branches.append(net.conv_bn(f"{p}/3x3", y, c3, 3, stride=stride))
        y = net.conv_bn(f"{p}/double3x3_reduce", x, rd, 1)
        y = net.conv_bn(f"{p}/double3x3a", y, cd, 3)
        branches.append(net.conv_bn(f"{p}/double3x3b", y, cd, 3, stride=stride))
        y = net.pool(f"{p}/pool", x, pool, 3, stride, pad=1 if stride == 1 else 0)
        branches.append(net.conv_bn(f"{p}/pool_proj", y, proj, 1) if proj else y)
        net.layer(f"{p}/output", "Concat", branches, [f"{p}/output"])
        x = f"{p}/output"
        outs[name] = x
    return outs["3c"], outs["4e"], outs["5b"]


def side_head(net, prefix, bottom, dim, fc_mult, top=None):
    """L and M heads: AVE pool 5/3 -> conv 1x1 128 -> BN -> FC 1024 -> BN -> [Dropout 0] -> FC D."""
    x = net.pool(f"{prefix}/ave_pool", bottom, "AVE", 5, 3)
    x = net.conv_bn(f"{prefix}/conv", x, 128, 1)
    x = net.fc(f"{prefix}/fc", x, 1024)
    net.layer(f"{prefix}/fc/bn", "BatchNorm", [x], [f"{x}/bn"])
    net.layer(f"{prefix}/fc/bn/sc", "Scale", [f"{x}/bn"], [f"{x}/bn/sc"], "  scale_param { bias_term: true }\n")
    net.layer(f"{prefix}/fc/bn/sc/relu", "ReLU", [f"{x}/bn/sc"], [f"{x}/bn/sc"])
    net.layer(f"{prefix}/drop", "Dropout", [f"{x}/bn/sc"], [f"{x}/bn/sc"], "  dropout_param { dropout_ratio: 0 }\n")
    return net.fc(f"{prefix}/fc/bn/sc/fc", f"{x}/bn/sc", dim, lr_mult=fc_mult, top=top)


def high_head(net, bottom, dim, fc_mult, top=None):
    x = net.pool("pool5/7x7_s1_pool", bottom, "AVE", 7, 1)
    net.layer("pool5/drop", "Dropout", [x], [x], "  dropout_param { dropout_ratio: 0 }\n")
    return net.fc("pool5/7x7_s1/fc", x, dim, lr_mult=fc_mult, top=top)


def loss_layers(net, emb, suffix, cfg, original):
    """Reshape (N x D x 1 x 1) -> Normalization (L2) -> loss, one per head."""
    net.layer(f"reshape{suffix}", "Reshape", [emb], [f"{emb}/reshape"],
              "  reshape_param { shape { dim: 0 dim: 0 dim: 1 dim: 1 } }\n")
    net.layer(f"norm{suffix}", "Normalization", [f"{emb}/reshape"], [f"{emb}/norm"],
              "  normalization_param { norm: L2 }\n")
    top = f"WSiamese/loss_image{suffix}"
    if original:
        net.layer(top, "DistanceWeightedValidPairLossV12", [f"{emb}/norm", "label"], [top],
                  "  propagate_down: 1\n  propagate_down: 0\n  loss_weight: 1\n"
                  f"  {cfg['original']}\n  softmax_t_p_param {{ scale: 0 }}\n"
                  f"  softmax_t_n_param {{ scale: {cfg['t_n']} }}\n")
    else:
        net.layer(top, "RankedListLoss", [f"{emb}/norm", "label"], [top],
                  f"  propagate_down: true\n  propagate_down: false\n  loss_weight: 1\n"
                  f"  ranked_list_loss_param {{ {cfg['rll']} }}\n")


def train_net(key, cfg, original):
    n = cfg["p"] * cfg["k"]
    net = Net(f"{key}_{'original' if original else 'rll'}_train")
    net.add(f"# {cfg['title']}: P x K = {cfg['p']} x {cfg['k']} = {n}, D = {cfg['dim']} per head. Labels are 0-based "
            "class ids, K per class, contiguous (matlab/rll_sampler.m).")
    net.add(f'input: "data"\ninput_dim: {n}\ninput_dim: 3\ninput_dim: 227\ninput_dim: 227')
    net.add(f'input: "label"\ninput_dim: {n}\ninput_dim: 1\ninput_dim: 1\ninput_dim: 1')
    low, mid, high = backbone(net)
    loss_layers(net, high_head(net, high, cfg["dim"], cfg["fc_mult"]), "", cfg, original)
    loss_layers(net, side_head(net, "loss1", low, cfg["dim"], cfg["fc_mult"]), "1", cfg, original)
    # M last: the original GR solver schedule touches the net's last layer only (docs/semantics.md).
    loss_layers(net, side_head(net, "loss2", mid, cfg["dim"], cfg["fc_mult"]), "2", cfg, original)
    return net.text()


def deploy_net(key, heads):
    """Un-normalised embedding(s) as blob pool5/7x7_s1; MATLAB normalises (docs/octave.md)."""
    net = Net(f"{key}_deploy_{''.join(heads)}")
    net.add('input: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 227\ninput_dim: 227')
    low, mid, high = backbone(net)
    cfg = DATASETS[key]
    single = len(heads) == 1
    tops = {}
    for h in heads:
        top = "pool5/7x7_s1" if single else None
        if h == "H":
            tops[h] = high_head(net, high, cfg["dim"], cfg["fc_mult"], top=top)
        elif h == "L":
            tops[h] = side_head(net, "loss1", low, cfg["dim"], cfg["fc_mult"], top=top)
        else:
            tops[h] = side_head(net, "loss2", mid, cfg["dim"], cfg["fc_mult"], top=top)
    if not single:
        net.layer("concat_heads", "Concat", [tops[h] for h in heads], ["pool5/7x7_s1"])
    return net.text()


def solver(cfg, train="train.prototxt"):
    steps = "".join(f"stepvalue: {s}\n" for s in cfg["steps"])
    return (f'net: "{train}"\ntype: "SGD"\nbase_lr: {cfg["base_lr"]}\nlr_policy: "multistep"\ngamma: {cfg["gamma"]}\n'
            f"{steps}momentum: 0.9\nweight_decay: {cfg['wd']}\nmax_iter: {cfg['max_iter']}\n"
            f"display: 0\nsnapshot: 0\nsolver_mode: CPU\n{cfg['solver_extra']}")


def tiny():
    net = Net("tiny_rll")
    net.add("# For tests: 12-D features of 4 classes x 3 samples per batch (HDF5, file order = batch order).")
    net.layer("data", "HDF5Data", [], ["data", "label"],
              '  hdf5_data_param {\n    source: "tiny_train_list.txt"\n    batch_size: 12\n  }\n')
    net.layer("fc1", "InnerProduct", ["data"], ["fc1"],
              "  inner_product_param {\n    num_output: 16\n    weight_filler { type: \"gaussian\" std: 0.3 }\n"
              "    bias_filler { type: \"constant\" }\n  }\n")
    net.layer("relu1", "ReLU", ["fc1"], ["fc1"])
    net.layer("emb", "InnerProduct", ["fc1"], ["emb"],
              "  inner_product_param {\n    num_output: 8\n    weight_filler { type: \"gaussian\" std: 0.3 }\n  }\n")
    net.layer("norm", "Normalization", ["emb"], ["emb/norm"], "  normalization_param { norm: L2 }\n")
    net.layer("loss", "RankedListLoss", ["emb/norm", "label"], ["loss", "loss/stats"],
              "  loss_weight: 1\n  loss_weight: 0\n  ranked_list_loss_param { margin: 0.4 alpha: 1.2 t_n: 10 }\n")
    sol = ('net: "train.prototxt"\ntype: "SGD"\nbase_lr: 0.05\nlr_policy: "fixed"\nmomentum: 0.9\n'
           "weight_decay: 1e-5\nmax_iter: 60\ndisplay: 1\nsnapshot: 0\nsolver_mode: CPU\nrandom_seed: 1\n")
    return net.text(), sol


def fashion_mnist():
    """The main job's small convnet (as the PyTorch anchor of shared notes): conv 5x5x32, ReLU, max-pool 2,
    conv 5x5x64, ReLU, max-pool 2, FC 256, ReLU, FC 128 = the embedding; training adds L2 normalisation and
    RankedListLoss. P x K = 5 x 12. The solver is the demo's recipe (make demo-tune chose it)."""
    def fill(fan_in):
        # PyTorch's default initialisation (uniform in +-1/sqrt(fan_in), weights and biases), as the anchor run of
        # shared/notes/fashion-mnist-anchor.md, so that "untrained" means the same there and here.
        b = 1.0 / fan_in ** 0.5
        return (f"    weight_filler {{ type: \"uniform\" min: {-b:.6g} max: {b:.6g} }}\n"
                f"    bias_filler {{ type: \"uniform\" min: {-b:.6g} max: {b:.6g} }}\n")

    def body(net):
        net.layer("conv1", "Convolution", ["data"], ["conv1"],
                  "  convolution_param {\n    num_output: 32\n    kernel_size: 5\n" + fill(25) + "  }\n")
        net.layer("relu1", "ReLU", ["conv1"], ["conv1"])
        net.pool("pool1", "conv1", "MAX", 2, 2)
        net.layer("conv2", "Convolution", ["pool1"], ["conv2"],
                  "  convolution_param {\n    num_output: 64\n    kernel_size: 5\n" + fill(32 * 25) + "  }\n")
        net.layer("relu2", "ReLU", ["conv2"], ["conv2"])
        net.pool("pool2", "conv2", "MAX", 2, 2)
        net.layer("fc1", "InnerProduct", ["pool2"], ["fc1"],
                  "  inner_product_param {\n    num_output: 256\n" + fill(64 * 4 * 4) + "  }\n")
        net.layer("relu3", "ReLU", ["fc1"], ["fc1"])
        net.layer("embedding", "InnerProduct", ["fc1"], ["embedding"],
                  "  inner_product_param {\n    num_output: 128\n" + fill(256) + "  }\n")

    train = Net("fashion_mnist_rll")
    train.add("# P x K = 5 x 12 images of 28 x 28, pixels in [0, 1]; matlab/demo/rll_demo.m fills data and label.")
    train.add('layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  top: "label"\n  input_param {\n'
              "    shape { dim: 60 dim: 1 dim: 28 dim: 28 }\n    shape { dim: 60 }\n  }\n}")
    body(train)
    train.layer("norm", "Normalization", ["embedding"], ["embedding/norm"], "  normalization_param { norm: L2 }\n")
    train.layer("loss", "RankedListLoss", ["embedding/norm", "label"], ["loss"],
                "  propagate_down: true\n  propagate_down: false\n"
                "  ranked_list_loss_param { margin: 0.4 alpha: 1.2 t_n: 10 t_p: 0 semantics: PAPER }\n")
    deploy = Net("fashion_mnist_deploy")
    deploy.add('layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape { dim: 1 dim: 1 dim: 28 '
               "dim: 28 } }\n}")
    body(deploy)
    sol = ("# The demo's recipe, chosen on a validation split of the seen classes' training images (make demo-tune,\n"
           "# tools/demo_runs.py; README); rll_demo.m sets max_iter, base_lr, lr_policy and random_seed from its options.\n"
           'net: "train.prototxt"\ntype: "SGD"\nbase_lr: 0.005\nlr_policy: "poly"\npower: 1\nmomentum: 0.9\n'
           "weight_decay: 2e-5\nmax_iter: 2000\ndisplay: 0\nsnapshot: 0\nsolver_mode: CPU\nrandom_seed: 1\n")
    return train.text(), deploy.text(), sol


# With --check, write() records the files that differ from what it would write instead of writing them.
STALE = None


def write(rel, text):
    path = os.path.join(HERE, rel)
    if STALE is not None:
        current = open(path).read() if os.path.exists(path) else None
        if current != text:
            STALE.append(rel)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def main():
    global STALE
    if sys.argv[1:] == ["--check"]:
        STALE = []
    elif sys.argv[1:]:
        raise SystemExit("usage: prototxt/generate.py [--check]")
    for key, cfg in DATASETS.items():
        for style in ("rll", "original"):
            write(f"{key}/{style}/train.prototxt", train_net(key, cfg, style == "original"))
            write(f"{key}/{style}/solver.prototxt", solver(cfg))
        # Deploy nets stop at the embeddings, so both train styles share them.
        for heads in (["H"], ["L"], ["M"], ["H", "L", "M"]):
            name = "concat" if len(heads) == 3 else heads[0]
            write(f"{key}/deploy_prototxts/test_{name}.prototxt", deploy_net(key, heads))
    train, deploy, sol = fashion_mnist()
    write("fashion_mnist/train.prototxt", train)
    # The same net with a cross-batch memory of the last 1,200 embeddings (20 batches; docs/memory.md).
    write("fashion_mnist/train_memory.prototxt", train.replace(
        "semantics: PAPER }", "semantics: PAPER memory_size: 1200 }").replace(
        'name: "fashion_mnist_rll"', 'name: "fashion_mnist_rll_memory"'))
    write("fashion_mnist/deploy.prototxt", deploy)
    write("fashion_mnist/solver.prototxt", sol)
    net, sol = tiny()
    write("tiny/train.prototxt", net)
    write("tiny/solver.prototxt", sol)
    if STALE:
        raise SystemExit(f"prototxt/ differs from prototxt/generate.py in {', '.join(STALE)}: run it and commit")
    if STALE is not None:
        print("prototxt/: every file is the generator's output")


if __name__ == "__main__":
    main()
