% run_demo: `make demo` runs this in octave-cli; settings come from the environment (Make variables):
%   SEMANTICS (PAPER), DATA (fashion-mnist), SPLIT (test), ITERS (2000), OUT (demo_out), SEED (1), BASE_LR (0.005),
%   LR_POLICY (poly), SHIFT (0), DIM (128), PLOT (1), RLL_CAFFE_ROOT (build/caffe). See rll_demo.m.
here = fileparts(mfilename('fullpath'));
addpath(fileparts(here));
addpath(here);
rll_setup(getenv('RLL_CAFFE_ROOT'));
env = @(name, default) char(ifelse_empty(getenv(name), default));
num = @(name, default) str2double(env(name, default));
opts.semantics = env('SEMANTICS', 'PAPER');
opts.data = env('DATA', 'fashion-mnist');
opts.split = env('SPLIT', 'test');
opts.iters = num('ITERS', '2000');
opts.out = env('OUT', 'demo_out');
opts.seed = num('SEED', '1');
opts.base_lr = num('BASE_LR', '0.005');
opts.lr_policy = env('LR_POLICY', 'poly');
opts.shift = num('SHIFT', '0');
opts.dim = num('DIM', '128');
opts.plot = num('PLOT', '1') ~= 0;
for f = {'iters', 'seed', 'base_lr', 'shift', 'dim'}
  if isnan(opts.(f{1})), error('run_demo: %s is not a number', upper(f{1})); end
end
rll_demo(opts);
