"""Tests that run the real patched Caffe (built by caffe_patch/build_caffe.sh into build/caffe):
our gtest binaries, `caffe train` on the tiny net (loss finite and falling), on every original-style net and on its
rll-migrate rewrite (finite, and the same losses as the original: equal behaviour)."""
import math
import os
import re
import shutil
import subprocess
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TREE = os.environ.get("CAFFE_TREE", os.path.join(REPO, "build", "caffe"))
CAFFE = os.path.join(TREE, ".temp_release", "tools", "caffe")
WORK = os.path.join(REPO, "build", "caffe-tests")
MIGRATE = os.path.join(REPO, "target", "release", "rll-migrate")
ENV = dict(os.environ, GLOG_logtostderr="1", LD_LIBRARY_PATH=os.path.join(TREE, ".temp_release", "lib"))


def caffe_train(workdir, solver):
    r = subprocess.run([CAFFE, "train", "--solver", solver], cwd=workdir, env=ENV, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"caffe train failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r.stderr


def iteration_losses(log):
    """Per-iteration values of each loss top: {top: [values]} from the solver's display lines."""
    out = {}
    for m in re.finditer(r"Train net output #\d+: (\S+) = (\S+)", log):
        out.setdefault(m.group(1), []).append(float(m.group(2)))
    return out


def with_dummy_inputs(text, batch):
    """The legacy inputs replaced by DummyData (Gaussian features, uniform labels), batch reduced: `caffe train`
    then feeds the net real numbers on the CPU in seconds, whatever the data set."""
    text = re.sub(r'input: "data"\s*input_dim: \d+\s*input_dim: 3\s*input_dim: 227\s*input_dim: 227\s*', "", text)
    text = re.sub(r'input: "label"\s*input_dim: \d+\s*input_dim: 1\s*input_dim: 1\s*input_dim: 1\s*', "", text)
    dummy = ('layer {\n  name: "inputs"\n  type: "DummyData"\n  top: "data"\n  top: "label"\n  dummy_data_param {\n'
             f'    shape {{ dim: {batch} dim: 3 dim: 227 dim: 227 }}\n    shape {{ dim: {batch} dim: 1 dim: 1 dim: 1 }}\n'
             '    data_filler { type: "gaussian" std: 50 }\n    data_filler { type: "uniform" min: 0 max: 2 }\n'
             "  }\n}\n")
    i = text.index("layer {")
    return text[:i] + dummy + text[i:]


def smoke_solver(iters):
    return ('net: "train.prototxt"\ntype: "SGD"\nbase_lr: 0.001\nlr_policy: "fixed"\nmomentum: 0.9\n'
            f"max_iter: {iters}\ndisplay: 1\nsnapshot: 0\nsolver_mode: CPU\nrandom_seed: 7\n")


def apply_copies():
    """caffe_patch/apply's COPIES: {path in the Caffe tree: path here}."""
    import importlib.machinery
    import importlib.util
    loader = importlib.machinery.SourceFileLoader("rll_apply", os.path.join(REPO, "caffe_patch", "apply"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("rll_apply", loader))
    loader.exec_module(module)
    return module.COPIES


class CaffeLint(unittest.TestCase):
    def test_copied_cpp_is_clean_under_caffes_cpp_lint(self):
        """Caffe's own scripts/cpp_lint.py (its `make lint`, default filters) on every C++ file apply copied."""
        files = [dst for dst in apply_copies() if dst.endswith((".hpp", ".h", ".cpp"))]
        self.assertGreaterEqual(len(files), 12)
        r = subprocess.run([sys.executable, "-W", "ignore", "scripts/cpp_lint.py"] + files, cwd=TREE,
                           capture_output=True, text=True)
        errors = [l for l in r.stderr.splitlines() if not l.startswith("Done processing")]
        self.assertEqual(r.returncode, 0, "\n".join(errors))
        self.assertIn("Total errors found: 0", r.stderr)


class GtestBinaries(unittest.TestCase):
    def run_bin(self, name):
        binary = os.path.join(TREE, ".temp_release", "test", f"test_{name}_layer.testbin")
        # From the tree root, as Caffe's tests expect.
        r = subprocess.run([binary, "--gtest_color=no"], cwd=TREE, env=ENV, capture_output=True, text=True)
        print(r.stdout[-600:], file=sys.stderr)
        self.assertEqual(r.returncode, 0, r.stdout[-4000:] + r.stderr[-2000:])
        self.assertRegex(r.stdout, r"\[  PASSED  \] \d+ tests")

    def test_ranked_list_loss_layer(self):
        self.run_bin("ranked_list_loss")

    def test_normalization_layer(self):
        self.run_bin("normalization")


class TinyNet(unittest.TestCase):
    def test_loss_is_finite_and_falls(self):
        import h5py  # installed by `make test-caffe`
        import numpy as np
        work = os.path.join(WORK, "tiny")
        os.makedirs(work, exist_ok=True)
        for f in ("train.prototxt", "solver.prototxt"):
            shutil.copy(os.path.join(REPO, "prototxt", "tiny", f), work)
        # 4 classes x 3 samples per batch of 12, in file order: well-separated class centres plus noise.
        rng = np.random.default_rng(0)
        centres = rng.normal(size=(8, 12))
        labels = np.tile(np.repeat(np.arange(4), 3), 60) + 4 * np.repeat(np.arange(60) % 2, 12)
        data = centres[labels] + 0.6 * rng.normal(size=(labels.size, 12))
        with h5py.File(os.path.join(work, "tiny.h5"), "w") as f:
            f["data"] = data.astype(np.float32)
            f["label"] = labels.astype(np.float32)
        with open(os.path.join(work, "tiny_train_list.txt"), "w") as f:
            f.write("tiny.h5\n")
        losses = iteration_losses(caffe_train(work, "solver.prototxt"))["loss"]
        self.assertEqual(len(losses), 60)
        self.assertTrue(all(math.isfinite(v) for v in losses), losses)
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        print(f"tiny net: mean loss of iterations 1-10 {first:.4f}, 51-60 {last:.4f}", file=sys.stderr)
        self.assertLess(last, 0.7 * first)


class GrSolverFields(unittest.TestCase):
    """The original GR solver fields parse; a target that differs from the last layer is warned about, once."""

    def run_with(self, extra):
        work = os.path.join(WORK, "gr")
        os.makedirs(work, exist_ok=True)
        src = os.path.join(REPO, "prototxt", "cub", "original", "train.prototxt")
        with open(src) as f, open(os.path.join(work, "train.prototxt"), "w") as out:
            out.write(with_dummy_inputs(f.read(), 3))
        with open(os.path.join(work, "solver.prototxt"), "w") as f:
            f.write(smoke_solver(1) + extra)
        return caffe_train(work, "solver.prototxt")

    def test_equal_targets_are_silent(self):
        log = self.run_with("negative_threshold: 1.4\npn_margin: 0.2\np_temperature: 0\nn_temperature: 10\n")
        self.assertNotIn("Solver targets differ", log)

    def test_a_differing_target_is_named_once(self):
        log = self.run_with("negative_threshold: 1.4\npn_margin: 0.3\nn_temperature: 12\n")
        self.assertEqual(log.count("Solver targets differ"), 1, log[-2000:])
        self.assertIn("pn_margin 0.3 (layer: 0.2) n_temperature 12 (layer: 10)", log)


class OriginalStyleNets(unittest.TestCase):
    """Every original-style net trains (a few iterations, batch 6) and gives finite losses; its rll-migrate
    rewrite gives the very same losses."""

    def run_net(self, dataset, text, tag):
        work = os.path.join(WORK, f"{dataset}-{tag}")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "train.prototxt"), "w") as f:
            f.write(with_dummy_inputs(text, 6))
        with open(os.path.join(work, "solver.prototxt"), "w") as f:
            f.write(smoke_solver(2))
        return iteration_losses(caffe_train(work, "solver.prototxt"))

    def check(self, dataset):
        src = os.path.join(REPO, "prototxt", dataset, "original", "train.prototxt")
        with open(src) as f:
            original = self.run_net(dataset, f.read(), "original")
        tops = [f"WSiamese/loss_image{s}" for s in ("", "1", "2")]
        for top in tops:
            self.assertEqual(len(original[top]), 2, original)
            self.assertTrue(all(math.isfinite(v) for v in original[top]), original)
        migrated = subprocess.run([MIGRATE, "--caffe-proto", os.path.join(TREE, "src/caffe/proto/caffe.proto"), src],
                                  capture_output=True, text=True, check=True).stdout
        self.assertEqual(migrated.count('type: "RankedListLoss"'), 3)
        rewritten = self.run_net(dataset, migrated, "migrated")
        for top in tops:
            self.assertEqual(original[top], rewritten[top], top)
        print(f"{dataset}: {', '.join(f'{t} {original[t]}' for t in tops)}", file=sys.stderr)

    def test_sop(self):
        self.check("sop")

    def test_cub(self):
        self.check("cub")

    def test_inshop(self):
        self.check("inshop")


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"caffe: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.wasSuccessful() else 0)
