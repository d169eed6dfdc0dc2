"""caffe_patch/apply on synthetic trees: BVLC-style (insertion, idempotence, CMake linking, refusals) and one that
carries the original RLL release as the authors' 2020 fork does (upgrade, refusals, idempotence, revert).

The real sdist tree is patched and built by `make test-caffe`, the real fork by `make test-fork FORK=...`; these
cover the layouts CI does not build (BVLC master's CMake, the fork) and the refusals, in a second. The fork fixture is
written from the published facts (names, numbers, defaults; docs/semantics.md), not copied."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APPLY = os.path.join(REPO, "caffe_patch", "apply")

PROTO = """syntax = "proto2";
package caffe;
message SolverParameter {
  optional string net = 24;
  optional bool layer_wise_reduce = 41 [default = true];
  repeated string weights = 42;
}
message LayerParameter {
  optional string name = 1; // the layer name
  optional string type = 2;
  repeated float loss_weight = 5;
  optional ContrastiveLossParameter contrastive_loss_param = 105;
}
message ContrastiveLossParameter {
  optional float margin = 1 [default = 1.0];
}
"""
CMAKE = """caffe_pickup_caffe_sources(${PROJECT_SOURCE_DIR})
add_library(caffe ${srcs})
caffe_default_properties(caffe)
target_link_libraries(caffe ${Caffe_LINKER_LIBS})
"""


def make_tree(root, proto=PROTO, makefile=True, cmake=True, extra=None):
    """A BVLC-style tree with the files apply looks for, plus `extra` ({relative path: text})."""
    files = {
        "src/caffe/proto/caffe.proto": proto,
        "include/caffe/layer.hpp": "// layer\n",
        "include/caffe/layers/loss_layer.hpp": "// loss layer\n",
        "src/caffe/test/test_caffe_main.cpp": "// main\n",
        "src/caffe/layers/README": "layers\n",
        "src/caffe/solver.cpp": '#include "caffe/solver.hpp"\nvoid Init() {\n  InitTrainNet();\n}\n',
    }
    if makefile:
        files["Makefile"] = "all:\n\techo build\n"
    if cmake:
        files["CMakeLists.txt"] = "project(Caffe)\n"
        files["src/caffe/CMakeLists.txt"] = CMAKE
    files.update(extra or {})
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def snapshot(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


def run(tree, *flags):
    return subprocess.run([sys.executable, APPLY, tree, "--no-build", *flags], capture_output=True, text=True)


class TreeTest(unittest.TestCase):
    """A fresh temporary folder for the tree named TREE."""
    TREE = "caffe"

    @classmethod
    def setUpClass(cls):
        # The patch copies the cxx headers and links the static library of a release build.
        subprocess.run(["cargo", "build", "--release", "--lib", "-q"], cwd=REPO, check=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.tree = os.path.join(self.dir, self.TREE)

    def tearDown(self):
        shutil.rmtree(self.dir)


class ApplyTest(TreeTest):

    def test_inserts_generated_fields_and_messages(self):
        make_tree(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 0, r.stderr)
        proto = open(os.path.join(self.tree, "src/caffe/proto/caffe.proto")).read()
        layer = re.search(r"message LayerParameter \{.*?\n\}", proto, re.S).group(0)
        for field in ("ranked_list_loss_param = 10642", "contrastive_loss_param_v2 = 10641",
                      "softmax_t_p_param = 10638", "softmax_t_n_param = 10639", "normalization_param = 111150"):
            self.assertIn(field, layer)
        self.assertNotIn("loss_weight = 5;\n  // >>>", layer)  # fields < 10000 exist already and are not copied
        solver = re.search(r"message SolverParameter \{.*?\n\}", proto, re.S).group(0)
        for field in ("negative_threshold = 10650", "pn_margin = 10651", "p_temperature = 10652",
                      "n_temperature = 10653"):
            self.assertIn(field, solver)
        for message in ("RankedListLossParameter", "ContrastiveLossParameterV2", "SoftmaxTPParameter",
                        "SoftmaxTNParameter", "NormalizationParameter"):
            self.assertIn(f"message {message} {{", proto)
        self.assertNotIn("message RllLayerFields", proto)
        # The messages come from proto/ verbatim, not from a second copy.
        ours = open(os.path.join(REPO, "proto/ranked_list_loss.proto")).read()
        block = ours[ours.index("message RankedListLossParameter"):ours.index("// The original layer's messages")]
        self.assertIn(block.strip(), proto)

    def test_second_run_changes_nothing_and_says_so(self):
        make_tree(self.tree)
        self.assertEqual(run(self.tree).returncode, 0)
        before = snapshot(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing changed", r.stdout)
        self.assertEqual(before, snapshot(self.tree))

    def test_second_run_changes_nothing_when_a_field_shares_the_closing_line(self):
        """Found by fuzzing (fuzz/regressions/apply): a message whose last field is on the line of its '}'."""
        make_tree(self.tree, proto=PROTO.replace("repeated string weights = 42;\n}", "repeated string weights = 42; }"))
        self.assertEqual(run(self.tree).returncode, 0)
        before = snapshot(self.tree)
        r = run(self.tree)
        self.assertIn("nothing changed", r.stdout)
        self.assertEqual(before, snapshot(self.tree))

    def test_the_stamp_names_a_symbol_the_library_defines(self):
        """apply's hash of the bridge headers and build.rs's are the same: the stamp header names a symbol that
        target/release/libranked_list_loss.a defines, so Caffe links against it (and not against another build)."""
        make_tree(self.tree)
        run(self.tree)
        with open(os.path.join(self.tree, "include/caffe/rll/library_stamp.hpp"), encoding="utf-8") as f:
            symbol = re.search(r"#define RLL_LIBRARY_STAMP (rll_library_for_these_headers_[0-9a-f]{16})\n",
                               f.read()).group(1)
        lib = os.path.join(REPO, "target", "release", "libranked_list_loss.a")
        defined = subprocess.run(["nm", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
        self.assertIn(f" {symbol}\n", defined)
        self.assertEqual(defined.count(" rll_library_for_these_headers_"), 1)

    def test_touches_only_what_it_lists(self):
        make_tree(self.tree)
        before = snapshot(self.tree)
        run(self.tree)
        after = snapshot(self.tree)
        changed = {k for k in after if before.get(k) != after[k] and not k.startswith(".rll_original/")}
        expected_new = {"include/caffe/layers/ranked_list_loss_layer.hpp", "include/caffe/layers/normalization_layer.hpp",
                        "include/caffe/layers/rll_bridge.hpp", "src/caffe/layers/ranked_list_loss_layer.cpp",
                        "src/caffe/layers/normalization_layer.cpp", "src/caffe/test/test_ranked_list_loss_layer.cpp",
                        "src/caffe/test/test_normalization_layer.cpp", "include/caffe/rll/ranked_list_loss.h",
                        "include/caffe/rll/bridge.rs.h", "include/caffe/rll/device_args.rs.h", "include/rust/cxx.h",
                        "include/caffe/layers/rll_solver_hook.hpp", "src/caffe/layers/rll_solver_hook.cpp",
                        "include/caffe/layers/rll_errors.hpp", "src/caffe/layers/rll_errors.cpp",
                        "include/caffe/rll/library_stamp.hpp"}
        self.assertEqual(changed, expected_new | {"src/caffe/proto/caffe.proto", "Makefile", "src/caffe/CMakeLists.txt",
                                                  "src/caffe/solver.cpp"})
        # The bridge's header finds the shared structs' header where apply put it.
        bridge = after["include/caffe/rll/bridge.rs.h"].decode()
        self.assertIn('#include "caffe/rll/device_args.rs.h"', bridge)
        self.assertNotIn("ranked-list-loss/src/", bridge)
        self.assertIn("struct GpuLoss final", after["include/caffe/rll/device_args.rs.h"].decode())
        solver = after["src/caffe/solver.cpp"].decode()
        self.assertIn("InitTrainNet();\n  // >>> ranked-list-loss", solver)
        self.assertIn("RllCheckGrSchedule(param_, net_->layers().back()->layer_param());", solver)
        self.assertEqual(before["CMakeLists.txt"], after["CMakeLists.txt"])
        # The originals of what it changed are kept for --revert, and what it added is listed.
        for rel in ("src/caffe/proto/caffe.proto", "Makefile", "src/caffe/CMakeLists.txt", "src/caffe/solver.cpp"):
            self.assertEqual(after[".rll_original/" + rel], before[rel])
        self.assertEqual(set(after[".rll_original/CREATED"].decode().split()), expected_new)

    def test_revert_restores_the_tree_byte_for_byte(self):
        make_tree(self.tree)
        before = snapshot(self.tree)
        self.assertEqual(run(self.tree).returncode, 0)
        self.assertEqual(run(self.tree).returncode, 0)
        r = subprocess.run([sys.executable, APPLY, "--revert", self.tree], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(before, snapshot(self.tree))
        self.assertFalse(os.path.exists(os.path.join(self.tree, "include/caffe/rll")))
        r = subprocess.run([sys.executable, APPLY, "--revert", self.tree], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nothing to revert", r.stderr)

    def test_pycaffe_asks_the_layers_to_throw(self):
        make_tree(self.tree)
        path = os.path.join(self.tree, "python/caffe/_caffe.cpp")
        os.makedirs(os.path.dirname(path))
        original = ('#include <Python.h>\n#include "caffe/caffe.hpp"\n\nBOOST_PYTHON_MODULE(_caffe) {\n'
                    '  bp::def("set_mode_cpu", &set_mode_cpu);\n}\n')
        with open(path, "w") as f:
            f.write(original)
        self.assertEqual(run(self.tree).returncode, 0)
        text = open(path).read()
        self.assertIn('#include "caffe/caffe.hpp"\n#include "caffe/layers/rll_errors.hpp"', text)
        self.assertIn("BOOST_PYTHON_MODULE(_caffe) {\n  // >>> ranked-list-loss", text)
        self.assertIn("caffe::RllSetThrowOnError(true);", text)
        before = snapshot(self.tree)
        self.assertIn("nothing changed", run(self.tree).stdout)
        self.assertEqual(before, snapshot(self.tree))
        subprocess.run([sys.executable, APPLY, "--revert", self.tree], check=True, capture_output=True)
        self.assertEqual(open(path).read(), original)

    def test_cmake_links_the_static_library_after_add_library(self):
        make_tree(self.tree)
        run(self.tree)
        cmake = open(os.path.join(self.tree, "src/caffe/CMakeLists.txt")).read()
        lines = cmake.splitlines()
        i = lines.index("add_library(caffe ${srcs})")
        link = next(l for l in lines[i:] if "libranked_list_loss.a" in l)
        self.assertTrue(link.startswith("target_link_libraries(caffe PUBLIC"), link)
        makefile = open(os.path.join(self.tree, "Makefile")).read()
        self.assertIn("libranked_list_loss.a\nLDFLAGS += $(RLL_STATIC_LIB) -ldl -lpthread", makefile)

    def test_cmake_without_libcaffe_is_left_alone(self):
        make_tree(self.tree)
        path = os.path.join(self.tree, "src/caffe/CMakeLists.txt")
        with open(path, "w") as f:
            f.write("# add_library(caffe ${srcs})\n")
        run(self.tree)
        self.assertEqual(open(path).read(), "# add_library(caffe ${srcs})\n")

    def test_refuses_a_tree_it_does_not_recognise(self):
        os.makedirs(os.path.join(self.tree, "src"))
        r = run(self.tree)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a BVLC-style Caffe source tree", r.stderr)
        self.assertIn("Nothing was changed", r.stderr)

    def test_refuses_colliding_field_numbers_untouched(self):
        make_tree(self.tree, proto=PROTO.replace("optional ContrastiveLossParameter contrastive_loss_param = 105;",
                                                 "optional ContrastiveLossParameter other_param = 10642;"))
        before = snapshot(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 2)
        self.assertIn("LayerParameter already has field other_param = 10642", r.stderr)
        self.assertEqual(before, snapshot(self.tree))

    def test_refuses_an_existing_message_of_the_same_name(self):
        make_tree(self.tree, proto=PROTO + "message NormalizationParameter {\n  optional int32 x = 1;\n}\n")
        r = run(self.tree)
        self.assertEqual(r.returncode, 2)
        self.assertIn("NormalizationParameter already has field x = 1; ours is norm = 1", r.stderr)


# The authors' 2020 fork, as the spec describes it (section C): their GR solver fields 41-44, the original messages
# with the V2020 defaults on the original LayerParameter numbers, their V12 and Normalization layers, another layer
# of theirs on ContrastiveLossParameterV2, and an SGDSolver that moves the V12 layer's handles (the GR schedule).
FORK_PROTO = """syntax = "proto2";
package caffe;
message SolverParameter {
  optional float negative_threshold = 44 [default = 1.2];
  optional float pn_margin = 43 [default = 0.4];
  optional float p_temperature = 42 [default = 0.0];
  optional float n_temperature = 41 [default = 10];
  optional string net = 24;
}
message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated float loss_weight = 5;
  optional NormalizationParameter normalization_param = 111150;
  optional SoftmaxTPParameter softmax_t_p_param = 10638;
  optional SoftmaxTNParameter softmax_t_n_param = 10639;
  optional SoftmaxCMParameter softmax_c_m_param = 10640;
  optional ContrastiveLossParameterV2 contrastive_loss_param_v2 = 10641;
}
message ContrastiveLossParameterV2 {
  optional float negative_threshold = 1 [default = 1.2];
  optional bool legacy_version = 2 [default = false];
  optional float pn_margin = 3 [default = 0.4];
}
message SoftmaxCMParameter {
  optional float t_c = 1 [default = 1.0];
  optional float t_m = 2 [default = 1.0];
  optional float base = 3 [default = 2.71828];
}
message SoftmaxTPParameter {
  optional float scale = 1 [default = 0.0];
  optional float base = 2 [default = 2.71828];
}
message SoftmaxTNParameter {
  optional float scale = 1 [default = 10.0];
  optional float base = 2 [default = 2.71828];
}
message NormalizationParameter {
  enum Norm {
    L1 = 1;
    L2 = 2;
  }
  optional Norm norm = 1 [default = L2];
}
"""
FORK_FILES = {
    "include/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.hpp": "class DistanceWeightedValidPairLossV12Layer;\n",
    "src/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.cpp":
        "void DistanceWeightedValidPairLossV12Layer<Dtype>::Forward_cpu() {}\n"
        "REGISTER_LAYER_CLASS(DistanceWeightedValidPairLossV12);\n",
    "include/caffe/layers/normalization_layer.hpp": "class NormalizationLayer;  // theirs\n",
    "src/caffe/layers/normalization_layer.cpp": "REGISTER_LAYER_CLASS(Normalization);  // theirs\n",
    "src/caffe/layers/contrastive_loss_v2_layer.cpp": "REGISTER_LAYER_CLASS(ContrastiveLossV2);\n",
    "src/caffe/solvers/sgd_solver.cpp": '#include "caffe/layers/distance_weighted_valid_pair_loss_V12_layer.hpp"\n'
                                        "x -= (x - this->param_.negative_threshold()) / k;\n",
}


def make_fork(root, proto=FORK_PROTO):
    make_tree(root, proto=proto, cmake=False, extra=FORK_FILES)


class ForkUpgradeTest(TreeTest):
    TREE = "CaffeMex_RLL_GR_V03_Simp"

    def test_upgrades_reusing_what_matches(self):
        make_fork(self.tree)
        before = snapshot(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 0, r.stderr)
        after = snapshot(self.tree)
        proto = after["src/caffe/proto/caffe.proto"].decode()
        for message in ("ContrastiveLossParameterV2", "SoftmaxTPParameter", "SoftmaxTNParameter",
                        "NormalizationParameter", "SoftmaxCMParameter", "RankedListLossParameter"):
            self.assertEqual(proto.count(f"message {message} {{"), 1, message)
        solver = re.search(r"message SolverParameter \{.*?\n\}", proto, re.S).group(0)
        for field in ("negative_threshold = 44", "pn_margin = 43", "p_temperature = 42", "n_temperature = 41"):
            self.assertIn(field, solver)  # theirs, kept
        self.assertNotIn("1065", solver)
        layer = re.search(r"message LayerParameter \{.*?\n\}", proto, re.S).group(0)
        self.assertEqual(layer.count("= 10641"), 1)
        self.assertIn("optional RankedListLossParameter ranked_list_loss_param = 10642;", layer)
        v2 = re.search(r"message ContrastiveLossParameterV2 \{.*?\n\}", proto, re.S).group(0)
        self.assertIn("optional float margin = 4", v2)  # ours adds alpha (V2019) on a free number
        self.assertIn("optional float negative_threshold = 1 [default = 1.2];", v2)
        # Their V12 source is moved aside, their Normalization replaced, the V12 header forwards to ours.
        self.assertNotIn("src/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.cpp", after)
        self.assertEqual(after[".rll_original/src/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.cpp"],
                         before["src/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.cpp"])
        self.assertEqual(after["src/caffe/layers/normalization_layer.cpp"],
                         open(os.path.join(REPO, "cpp/layers/normalization_layer.cpp"), "rb").read())
        self.assertEqual(after[".rll_original/src/caffe/layers/normalization_layer.cpp"],
                         before["src/caffe/layers/normalization_layer.cpp"])
        self.assertIn(b'#include "caffe/layers/ranked_list_loss_layer.hpp"',
                      after["include/caffe/layers/distance_weighted_valid_pair_loss_V12_layer.hpp"])
        # Their other layers and their GR solver stay; our warning hook is not added where the schedule exists.
        for rel in ("src/caffe/layers/contrastive_loss_v2_layer.cpp", "src/caffe/solvers/sgd_solver.cpp",
                    "src/caffe/solver.cpp"):
            self.assertEqual(after[rel], before[rel], rel)
        self.assertIn("distance_weighted_valid_pair_loss_V12_layer.cpp (moved to .rll_original/)", r.stdout)

    def test_second_run_changes_nothing_and_revert_restores_the_fork(self):
        make_fork(self.tree)
        before = snapshot(self.tree)
        self.assertEqual(run(self.tree, "--matcaffe").returncode, 2)  # no matcaffe in the fixture: refused whole
        self.assertEqual(before, snapshot(self.tree))
        self.assertEqual(run(self.tree).returncode, 0)
        once = snapshot(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nothing changed", r.stdout)
        self.assertEqual(once, snapshot(self.tree))
        r = subprocess.run([sys.executable, APPLY, "--revert", self.tree], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(before, snapshot(self.tree))

    def refused(self, proto, expected):
        make_fork(self.tree, proto=proto)
        before = snapshot(self.tree)
        r = run(self.tree)
        self.assertEqual(r.returncode, 2, r.stdout)
        self.assertIn(expected, r.stderr)
        self.assertIn("Nothing was changed", r.stderr)
        self.assertEqual(before, snapshot(self.tree))

    def test_refuses_a_field_of_another_type(self):
        self.refused(FORK_PROTO.replace("optional float pn_margin = 3", "optional double pn_margin = 3"),
                     "ContrastiveLossParameterV2.pn_margin is 'optional double pn_margin = 3' in this tree")

    def test_refuses_a_layer_field_on_another_number(self):
        self.refused(FORK_PROTO.replace("contrastive_loss_param_v2 = 10641", "contrastive_loss_param_v2 = 10643"),
                     "LayerParameter.contrastive_loss_param_v2 is 'optional ContrastiveLossParameterV2 "
                     "contrastive_loss_param_v2 = 10643' in this tree")

    def test_refuses_a_solver_field_of_another_type(self):
        self.refused(FORK_PROTO.replace("optional float n_temperature = 41", "optional int32 n_temperature = 41"),
                     "SolverParameter.n_temperature is 'optional int32 n_temperature = 41' in this tree")

    def test_refuses_another_enum(self):
        self.refused(FORK_PROTO.replace("L2 = 2;", "L2 = 3;"), "NormalizationParameter.Norm differs from ours")


if __name__ == "__main__":
    unittest.main(verbosity=2)
