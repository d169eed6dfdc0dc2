% run_demo: `make demo` runs this in octave-cli; settings come from the environment (Make variables):
%   SEMANTICS (PAPER), DATA (fashion-mnist), ITERS (2000), OUT (demo_out), RLL_CAFFE_ROOT (build/caffe).
here = fileparts(mfilename('fullpath'));
addpath(fileparts(here));
addpath(here);
rll_setup(getenv('RLL_CAFFE_ROOT'));
env = @(name, default) char(ifelse_empty(getenv(name), default));
opts.semantics = env('SEMANTICS', 'PAPER');
opts.data = env('DATA', 'fashion-mnist');
opts.iters = str2double(env('ITERS', '2000'));
opts.out = env('OUT', 'demo_out');
rll_demo(opts);
