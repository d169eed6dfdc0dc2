% Runs every tests/octave/test_*.m function in GNU Octave (or MATLAB) and prints "N passed, N failed".
here = fileparts(mfilename('fullpath'));
addpath(here);
addpath(fullfile(fileparts(fileparts(here)), 'matlab'));
rll_setup(getenv('RLL_CAFFE_ROOT'));
addpath(fullfile(fileparts(fileparts(here)), 'matlab', 'demo'));
caffe.set_mode_cpu();
files = dir(fullfile(here, 'test_*.m'));
passed = 0;
failed = 0;
for i = 1:numel(files)
  name = files(i).name(1:end - 2);
  fprintf('%-36s ', name);
  try
    t = tic;
    feval(name);
    passed = passed + 1;
    fprintf('ok (%.1f s)\n', toc(t));
  catch err
    failed = failed + 1;
    fprintf('FAILED\n  %s\n', err.message);
    for s = err.stack(:)'
      fprintf('    at %s line %d\n', s.name, s.line);
    end
  end
  caffe.reset_all();
end
fprintf('octave: %d passed, %d failed\n', passed, failed);
if failed > 0
  exit(1);
end
