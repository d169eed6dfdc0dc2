"""pycaffe with our layers (make test-pycaffe): the patched tree's Python interface, run by Debian's /usr/bin/python3
with PYTHONPATH=<tree>/python and nothing else. Layer registry, NetSpec, SGDSolver training, forward/backward against
the C ABI (ctypes on the cdylib), a finite-difference gradient check written apart from the gtests, docs/caffe.md's
example, and what errors do: our layers' are Python exceptions, Caffe's own checks still abort the process."""
import ctypes
import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

os.environ.setdefault("GLOG_minloglevel", "2")
import caffe  # noqa: E402  (after GLOG_minloglevel: the import initialises glog)
from caffe import layers as L, params as P  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB = os.path.join(REPO, "target", "release", "libranked_list_loss.so")
EXAMPLE = os.path.join(REPO, "examples", "pycaffe_rll.py")
SEMANTICS = {"PAPER": 0, "OFFICIAL_V2020": 1, "OFFICIAL_V2019": 2}
# Subprocesses find the same pycaffe from any folder.
ENV = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(caffe.__file__))))


class Params(ctypes.Structure):
    """rll_params of cpp/include/ranked_list_loss.h."""
    _fields_ = [(f, ctypes.c_float) for f in ("margin", "alpha", "t_n", "t_p", "base_n", "base_p", "lambda_")] + [
        (f, ctypes.c_int32) for f in ("semantics", "query_only", "detach_weights")]


def c_abi_loss(x, labels, **kw):
    """Loss and dE/dx from rll_loss_f32, with the proto defaults and the fields in kw."""
    lib = ctypes.CDLL(LIB)
    fp = ctypes.POINTER(ctypes.c_float)
    lib.rll_loss_f32.argtypes = [ctypes.POINTER(Params), fp, fp, ctypes.c_int64, ctypes.c_int64, ctypes.c_float,
                                 fp, fp]
    lib.rll_last_error.restype = ctypes.c_char_p
    p = Params()
    lib.rll_params_default(ctypes.byref(p))
    for k, v in kw.items():
        setattr(p, "lambda_" if k == "lambda" else k, SEMANTICS[v] if k == "semantics" else v)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(labels, dtype=np.float32)
    g = np.zeros_like(x)
    loss = ctypes.c_float()
    as_p = lambda a: a.ctypes.data_as(fp)  # noqa: E731
    rc = lib.rll_loss_f32(ctypes.byref(p), as_p(x), as_p(y), x.shape[0], x.shape[1], 1.0, ctypes.byref(loss), as_p(g))
    if rc:
        raise RuntimeError(lib.rll_last_error().decode())
    return loss.value, g


def head(n, d, normalise, **param):
    """Input data (n x d) and label (n) -> [Normalization ->] RankedListLoss, as a NetSpec."""
    ns = caffe.NetSpec()
    ns.data, ns.label = L.Input(shape=[dict(dim=[n, d]), dict(dim=[n])], ntop=2)
    features = L.Normalization(ns.data) if normalise else ns.data
    if normalise:
        ns.norm = features
    if "semantics" in param:
        param["semantics"] = getattr(P.RankedListLoss, param["semantics"])
    ns.loss = L.RankedListLoss(features, ns.label, propagate_down=[True, False], ranked_list_loss_param=param)
    return ns


def load(ns, folder):
    """The net, with force_backward so that the Input blob 'data' receives its diff."""
    proto = ns.to_proto()
    proto.force_backward = True
    path = os.path.join(folder, "net.prototxt")
    with open(path, "w") as f:
        f.write(str(proto))
    return caffe.Net(path, caffe.TRAIN)


def batch(n, d, classes, seed):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), (np.arange(n) % classes).astype(np.float32)


class PycaffeTest(unittest.TestCase):
    def setUp(self):
        caffe.set_mode_cpu()
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_layer_types_are_registered(self):
        types = set(caffe.layer_type_list())
        for t in ("RankedListLoss", "Normalization", "DistanceWeightedValidPairLossV12"):
            self.assertIn(t, types)

    def test_netspec_writes_a_prototxt_that_loads(self):
        for semantics in SEMANTICS:
            ns = head(12, 6, True, margin=0.4, t_n=10, semantics=semantics)
            text = str(ns.to_proto())
            self.assertIn("type: \"RankedListLoss\"", text)
            self.assertIn(f"semantics: {semantics}", text)
            net = load(ns, self.dir)
            x, y = batch(12, 6, 3, 1)
            net.blobs["data"].data[...] = x
            net.blobs["label"].data[...] = y
            loss = float(net.forward()["loss"])
            self.assertTrue(np.isfinite(loss) and loss > 0, f"{semantics}: loss {loss}")

    def test_forward_backward_match_the_c_abi(self):
        cases = [dict(semantics="PAPER", margin=0.4, alpha=1.2, t_n=10),
                 dict(semantics="PAPER", margin=0.3, alpha=1.0, t_n=5, t_p=2, query_only=True),
                 dict(semantics="OFFICIAL_V2020", margin=0.4, alpha=1.2, t_n=10),
                 dict(semantics="OFFICIAL_V2019", margin=0.4, alpha=1.2, t_n=10)]
        for case in cases:
            x, y = batch(60, 32, 5, 2)
            x *= 0.25  # distances around the boundaries: many active pairs
            net = load(head(60, 32, False, **case), self.dir)
            net.blobs["data"].data[...] = x
            net.blobs["label"].data[...] = y
            loss = float(net.forward()["loss"])
            net.backward()
            diff = net.blobs["data"].diff.copy()
            want_loss, want_grad = c_abi_loss(x, y, **case)
            self.assertLess(abs(loss - want_loss), 1e-6 * abs(want_loss), f"{case}: {loss} vs {want_loss}")
            scale = np.abs(want_grad).max()
            self.assertGreater(scale, 0, f"{case}: a zero gradient checks nothing")
            self.assertLess(np.abs(diff - want_grad).max(), 1e-6 * scale, f"{case}: bottom diff")

    def test_finite_difference_gradient_of_a_paper_head(self):
        """Central differences of the net's loss against its bottom diff, as Caffe's GradientChecker does
        (pycaffe is float32 only: step 1e-2 on inputs of norm ~2.5, tolerance 1e-3 of max(|a|, |b|, 0.1); the
        worst seen is 7e-5). The
        head is Normalization -> RankedListLoss (PAPER, T_p > 0 so that positives carry weight too); the draw
        keeps every pair's distance 0.02 away from the boundaries alpha - m and alpha, where the hinge bends."""
        n, d = 12, 6
        param = dict(semantics="PAPER", margin=0.4, alpha=1.2, t_n=10, t_p=2)
        net = load(head(n, d, True, **param), self.dir)
        for seed in range(100):
            x, y = batch(n, d, 3, seed)
            u = x / np.linalg.norm(x, axis=1, keepdims=True)
            dist = np.sqrt(np.maximum(2 - 2 * u @ u.T, 0))[np.triu_indices(n, 1)]
            if np.min(np.abs(dist[:, None] - np.array([0.8, 1.2]))) > 0.02:
                break
        net.blobs["label"].data[...] = y

        def loss_at(v):
            net.blobs["data"].data[...] = v
            return float(net.forward()["loss"])

        loss_at(x)
        net.backward()
        analytic = net.blobs["data"].diff.copy()
        self.assertGreater(np.abs(analytic).max(), 1e-3)
        step, worst = 1e-2, 0.0
        for i in range(n):
            for j in range(d):
                plus, minus = x.copy(), x.copy()
                plus[i, j] += step
                minus[i, j] -= step
                numeric = (loss_at(plus) - loss_at(minus)) / (2 * step)
                a = analytic[i, j]
                worst = max(worst, abs(numeric - a) / max(abs(numeric), abs(a), 0.1))
        print(f"finite differences: worst relative difference {worst:.2e}", file=sys.stderr)
        self.assertLess(worst, 1e-3, "worst relative difference of the finite-difference check")

    def test_the_readme_example_trains(self):
        with open(EXAMPLE) as f:
            code = f.read()
        with open(os.path.join(REPO, "docs", "caffe.md")) as f:
            self.assertTrue(code.strip() in f.read(), "docs/caffe.md's Python example differs from examples/pycaffe_rll.py")
        r = subprocess.run([sys.executable, EXAMPLE], cwd=self.dir, env=ENV, capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        losses = [float(v) for v in re.findall(r"loss (\S+)", r.stdout)]
        self.assertEqual(len(losses), 6, r.stdout)
        self.assertLess(np.mean(losses[-2:]), 0.6 * losses[0], f"loss did not fall: {losses}")

    def test_layer_errors_are_python_exceptions(self):
        """Our layers' errors (a bad parameter at set-up, a NaN label at Forward) are RuntimeErrors naming the
        layer, the field or blob and the value (apply patches pycaffe's init to ask the layers to throw), and the
        interpreter goes on: a net made afterwards trains. Without that patch Caffe's LOG(FATAL) aborted Python."""
        ns = caffe.NetSpec()
        ns.data, ns.label = L.Input(shape=[dict(dim=[6, 4]), dict(dim=[6])], ntop=2)
        ns.loss = L.RankedListLoss(ns.data, ns.label, ranked_list_loss_param=dict(margin=-0.5))
        with self.assertRaises(RuntimeError) as cm:
            load(ns, self.dir)
        self.assertRegex(str(cm.exception), r"RankedListLoss layer 'loss': bad parameters: .*margin = -0\.5 is negative")
        net = load(head(6, 4, True), self.dir)
        x, y = batch(6, 4, 2, 3)
        y[3] = np.nan
        net.blobs["data"].data[...] = x
        net.blobs["label"].data[...] = y
        with self.assertRaises(RuntimeError) as cm:
            net.forward()
        self.assertEqual(str(cm.exception), "RankedListLoss layer 'loss': labels[3] = NaN is not finite")
        y[3] = 1
        net.blobs["label"].data[...] = y
        self.assertTrue(np.isfinite(float(net.forward()["loss"])), "the net works once the input is finite")

    def test_a_wrong_label_count_is_a_python_exception(self):
        """Labels that do not match the batch (a count other than N, or N values along another axis) are our
        RuntimeError naming the layer and both blobs, raised before LossLayer::Reshape's CHECK would abort the
        interpreter; it goes on. Run apart, so that an abort would be seen as one."""
        code = ("import caffe\nfrom caffe import layers as L\n"
                "for shape in ([5], [1, 6]):\n"
                "    n = caffe.NetSpec()\n"
                "    n.data, n.label = L.Input(shape=[dict(dim=[6, 4]), dict(dim=shape)], ntop=2)\n"
                "    n.loss = L.RankedListLoss(n.data, n.label)\n"
                "    open('bad.prototxt', 'w').write(str(n.to_proto()))\n"
                "    try:\n        caffe.Net('bad.prototxt', caffe.TRAIN)\n    except RuntimeError as e:\n"
                "        print('caught', e)\nprint('survived')\n")
        r = subprocess.run([sys.executable, "-c", code], cwd=self.dir, env=ENV, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, f"{r.stdout}\n{r.stderr[-2000:]}")
        self.assertIn("survived", r.stdout)
        self.assertRegex(r.stdout, r"caught RankedListLoss layer 'loss': bottom\[1\] \(labels\) has 5 values \(shape 5 "
                                   r"\(5\)\) but bottom\[0\] \(features\) has 6 samples")
        self.assertRegex(r.stdout, r"caught RankedListLoss layer 'loss': bottom\[1\] \(labels\) has 6 values \(shape 1 6 ")


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"pycaffe: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed or not result.testsRun else 0)
