"""caffe_patch/apply on synthetic BVLC-style trees: insertion, idempotence, CMake linking, refusals.

The real sdist tree is patched and built by `make test-caffe`; these cover the layouts CI does not build (BVLC
master's CMake) and the refusals, in a second."""
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


def make_tree(root, proto=PROTO, makefile=True, cmake=True):
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


class ApplyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The patch copies the cxx headers and links the static library of a release build.
        subprocess.run(["cargo", "build", "--release", "--lib", "-q"], cwd=REPO, check=True)

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.tree = os.path.join(self.dir, "caffe")

    def tearDown(self):
        shutil.rmtree(self.dir)

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

    def test_touches_only_what_it_lists(self):
        make_tree(self.tree)
        before = snapshot(self.tree)
        run(self.tree)
        after = snapshot(self.tree)
        changed = {k for k in after if before.get(k) != after[k]}
        expected_new = {"include/caffe/layers/ranked_list_loss_layer.hpp", "include/caffe/layers/normalization_layer.hpp",
                        "include/caffe/layers/rll_bridge.hpp", "src/caffe/layers/ranked_list_loss_layer.cpp",
                        "src/caffe/layers/normalization_layer.cpp", "src/caffe/test/test_ranked_list_loss_layer.cpp",
                        "src/caffe/test/test_normalization_layer.cpp", "include/caffe/rll/ranked_list_loss.h",
                        "include/caffe/rll/bridge.rs.h", "include/rust/cxx.h",
                        "include/caffe/layers/rll_solver_hook.hpp", "src/caffe/layers/rll_solver_hook.cpp"}
        self.assertEqual(changed, expected_new | {"src/caffe/proto/caffe.proto", "Makefile", "src/caffe/CMakeLists.txt",
                                                  "src/caffe/solver.cpp"})
        solver = after["src/caffe/solver.cpp"].decode()
        self.assertIn("InitTrainNet();\n  // >>> ranked-list-loss", solver)
        self.assertIn("RllCheckGrSchedule(param_, net_->layers().back()->layer_param());", solver)
        self.assertEqual(before["CMakeLists.txt"], after["CMakeLists.txt"])

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
        self.assertIn("already defines message NormalizationParameter", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
