"""matcaffe changes (caffe_patch/apply --matcaffe, alias --octave), as exact, checked substitutions; all of them
work in MATLAB too.

GNU Octave:
(a) Octave does not search private/ inside a +package: matlab/PKG_ADD (which Octave runs when <caffe>/matlab is
    added to the path, and MATLAB ignores) adds that folder, so a script's own addpath('<caffe>/matlab/') is
    enough; PKG_DEL removes it again;
(b) arrays of classdef objects and Class.empty() are unsupported: Net, Layer and Solver keep their layers, blobs,
    params and test nets in cell arrays (the public methods layers(), blobs(), params() return the same objects);
(c) Solver.delete can run on a temporary empty object, and Net/Solver.delete after reset_all: guarded with isempty
    and is_valid_handle;
(d) scripts that call local functions defined after their code: rll_local_functions(folder), copied into
    <caffe>/matlab (it does nothing in MATLAB).
Both: in a CPU_ONLY build, caffe.set_mode_gpu() and caffe.set_device(id) stay on the CPU with one warning (Caffe
would abort the interpreter at the first forward, or at once for set_device); an error of our layers (a bad
parameter or input) is an Octave/MATLAB error (caffe:layer) instead of an abort.
CaffeMex compatibility, so that the original RLL scripts run on BVLC matcaffe:
  caffe.get_solver(file, gpu_ids), solver.nets{g}, solver.use_caffemodel(path), caffe.init_log(prefix),
  caffe.set_random_seed(seed): .m files from matlab/matcaffe/+caffe, two Solver members, and three small
  commands in caffe_.cpp (glog to file, Caffe::set_random_seed, whether the build is CPU_ONLY).
"""
import os

BEGIN = "% ranked-list-loss (caffe_patch/apply --octave):"

SUBSTITUTIONS = {
    "matlab/+caffe/Net.m": [
        ("      self.layer_vec = caffe.Layer.empty();\n", "      self.layer_vec = {};  " + BEGIN + " cells, not object arrays\n"),
        ("        self.layer_vec(n) = caffe.Layer(self.attributes.hLayer_layers(n));\n",
         "        self.layer_vec{n} = caffe.Layer(self.attributes.hLayer_layers(n));\n"),
        ("      self.blob_vec = caffe.Blob.empty();\n", "      self.blob_vec = {};\n"),
        ("        self.blob_vec(n) = caffe.Blob(self.attributes.hBlob_blobs(n));\n",
         "        self.blob_vec{n} = caffe.Blob(self.attributes.hBlob_blobs(n));\n"),
        ("      layer = self.layer_vec(self.name2layer_index(layer_name));\n",
         "      layer = self.layer_vec{self.name2layer_index(layer_name)};\n"),
        ("      blob = self.blob_vec(self.name2blob_index(blob_name));\n",
         "      blob = self.blob_vec{self.name2blob_index(blob_name)};\n"),
        ("      if ~isempty(self.hNet_self)\n        caffe_('delete_net', self.hNet_self);\n",
         "      if ~isempty(self.hNet_self) && is_valid_handle(self.hNet_self)  " + BEGIN + " not after reset_all\n"
         "        caffe_('delete_net', self.hNet_self);\n"),
        ("      blob = self.layer_vec(self.name2layer_index(layer_name)).params(blob_index);\n",
         "      blob = self.layer_vec{self.name2layer_index(layer_name)}.params{blob_index};\n"),
    ],
    "matlab/+caffe/Layer.m": [
        ("      self.params = caffe.Blob.empty();\n", "      self.params = {};  " + BEGIN + " cells, not object arrays\n"),
        ("        self.params(n) = caffe.Blob(self.attributes.hBlob_blobs(n));\n",
         "        self.params{n} = caffe.Blob(self.attributes.hBlob_blobs(n));\n"),
    ],
    "matlab/+caffe/Solver.m": [
        ("      self.test_nets = caffe.Net.empty();\n", "      self.test_nets = {};  " + BEGIN + " cells, not object arrays\n"),
        ("        self.test_nets(n) = caffe.Net(self.attributes.hNet_test_nets(n));\n",
         "        self.test_nets{n} = caffe.Net(self.attributes.hNet_test_nets(n));\n"),
        ("  properties (SetAccess = private)\n    net\n    test_nets\n  end\n",
         "  properties (SetAccess = private)\n    net\n    test_nets\n    nets  " + BEGIN + " CaffeMex's {net}\n  end\n"),
        ("      self.net = caffe.Net(self.attributes.hNet_net);\n",
         "      self.net = caffe.Net(self.attributes.hNet_net);\n      self.nets = {self.net};\n"),
        ("    function iter = iter(self)\n",
         "    function use_caffemodel(self, weights_file)\n      " + BEGIN + " CaffeMex: weights into the net\n"
         "      self.net.copy_from(weights_file);\n    end\n    function iter = iter(self)\n"),
        ("    function delete (self)\n      caffe_('delete_solver', self.hSolver_self);\n    end\n",
         "    function delete (self)\n      if ~isempty(self.hSolver_self) && is_valid_handle(self.hSolver_self)  " + BEGIN
         + " Octave deletes temporaries\n"
         "        caffe_('delete_solver', self.hSolver_self);\n      end\n    end\n"),
    ],
    "matlab/+caffe/private/caffe_.cpp": [
        ("// Usage: caffe_('get_init_key')\n",
         "// " + BEGIN[2:] + " CaffeMex's init_log and set_random_seed.\n"
         "// Usage: caffe_('init_log', log_prefix)\n"
         "static void init_log(MEX_ARGS) {\n"
         "  mxCHECK(nrhs == 1 && mxIsChar(prhs[0]), \"Usage: caffe_('init_log', log_prefix)\");\n"
         "  static bool initialised = false;\n"
         "  if (!initialised) {\n    ::google::InitGoogleLogging(\"caffe_\");\n    initialised = true;\n  }\n"
         "  char* prefix = mxArrayToString(prhs[0]);\n"
         "  ::google::SetLogDestination(::google::GLOG_INFO, prefix);\n"
         "  mxFree(prefix);\n}\n\n"
         "// Usage: caffe_('set_random_seed', seed)\n"
         "static void set_random_seed(MEX_ARGS) {\n"
         "  mxCHECK(nrhs == 1 && mxIsDouble(prhs[0]), \"Usage: caffe_('set_random_seed', seed)\");\n"
         "  Caffe::set_random_seed(static_cast<unsigned int>(mxGetScalar(prhs[0])));\n}\n\n"
         "// Usage: caffe_('cpu_only'): whether this build has no GPU support\n"
         "static void cpu_only(MEX_ARGS) {\n"
         "  mxCHECK(nrhs == 0, \"Usage: caffe_('cpu_only')\");\n"
         "#ifdef CPU_ONLY\n  plhs[0] = mxCreateLogicalScalar(true);\n#else\n"
         "  plhs[0] = mxCreateLogicalScalar(false);\n#endif\n}\n\n"
         "// Usage: caffe_('get_init_key')\n"),
        ("  Caffe::set_mode(Caffe::GPU);\n}\n",
         "#ifdef CPU_ONLY\n"
         "  // " + BEGIN[2:] + " Caffe would abort the interpreter at the first\n"
         "  // forward: a CPU_ONLY build stays on the CPU, with one warning.\n"
         "  warn_cpu_only(\"set_mode_gpu\");\n"
         "  Caffe::set_mode(Caffe::CPU);\n"
         "#else\n"
         "  Caffe::set_mode(Caffe::GPU);\n"
         "#endif\n}\n"),
        ("  int device_id = static_cast<int>(mxGetScalar(prhs[0]));\n  Caffe::SetDevice(device_id);\n",
         "  int device_id = static_cast<int>(mxGetScalar(prhs[0]));\n"
         "#ifdef CPU_ONLY\n"
         "  static_cast<void>(device_id);\n"
         "  warn_cpu_only(\"set_device\");  // Caffe::SetDevice aborts in a CPU_ONLY build\n"
         "#else\n"
         "  Caffe::SetDevice(device_id);\n"
         "#endif\n"),
        ("// Usage: caffe_('set_mode_gpu')\n",
         "#ifdef CPU_ONLY\n"
         "// " + BEGIN[2:] + " the one warning of a GPU call in a CPU_ONLY build.\n"
         "static void warn_cpu_only(const char* call) {\n"
         "  static bool warned = false;\n"
         "  if (!warned) {\n"
         "    mexWarnMsgIdAndTxt(\"caffe:cpuOnly\", \"caffe.%s: this Caffe is built CPU_ONLY (no GPU support): \"\n"
         "        \"running on the CPU\", call);\n"
         "    warned = true;\n"
         "  }\n"
         "}\n"
         "#endif\n\n"
         "// Usage: caffe_('set_mode_gpu')\n"),
        ("      handlers[i].func(nlhs, plhs, nrhs-1, prhs+1);\n",
         "      try {\n"
         "        handlers[i].func(nlhs, plhs, nrhs-1, prhs+1);\n"
         "      } catch (const RllError& e) {  // " + BEGIN[2:] + " an error, not an abort\n"
         "        mxFree(cmd);\n"
         "        mexErrMsgIdAndTxt(\"caffe:layer\", \"%s\", e.what());\n"
         "      }\n"),
        ("  mexLock();  // Avoid clearing the mex file.\n",
         "  mexLock();  // Avoid clearing the mex file.\n"
         "  RllSetThrowOnError(true);  // " + BEGIN[2:] + " the layers' errors as Octave/MATLAB errors\n"),
        ('#include "caffe/caffe.hpp"\n',
         '#include "caffe/caffe.hpp"\n#include "caffe/layers/rll_errors.hpp"  // ranked-list-loss\n'),
        ('  { "version",            version         },\n',
         '  { "version",            version         },\n'
         '  { "init_log",           init_log        },\n'
         '  { "set_random_seed",    set_random_seed },\n'
         '  { "cpu_only",           cpu_only        },\n'),
    ],
}

# New files, copied from matlab/matcaffe/ (get_solver.m replaces BVLC's one-argument version).
COPIES = ["+caffe/get_solver.m", "+caffe/init_log.m", "+caffe/set_random_seed.m", "PKG_ADD", "PKG_DEL",
          "rll_local_functions.m"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NotMatcaffe(Exception):
    pass


def fixes(tree):
    """{relative path: new text} for each matcaffe file that changes; already-fixed files are left as they are."""
    out = {}
    for rel, subs in SUBSTITUTIONS.items():
        path = os.path.join(tree, rel)
        if not os.path.exists(path):
            raise NotMatcaffe(f"{rel} is missing: no BVLC matcaffe in this tree")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if BEGIN in text or BEGIN[2:] in text:
            continue
        for old, new in subs:
            if text.count(old) != 1:
                raise NotMatcaffe(f"{rel} is not the BVLC matcaffe file expected (line not found: {old.strip()!r})")
            text = text.replace(old, new)
        out[rel] = text
    for name in COPIES:
        with open(os.path.join(REPO, "matlab", "matcaffe", name), encoding="utf-8") as f:
            out[f"matlab/{name}"] = f.read()
    return out
