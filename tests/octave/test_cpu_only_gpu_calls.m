function test_cpu_only_gpu_calls()
% In a CPU_ONLY build, caffe.set_mode_gpu() and caffe.set_device(id), the first lines of the authors' test
% scripts, keep Caffe on the CPU with one warning, as caffe.get_solver(file, id) does; before, the first forward
% aborted Octave ("Cannot use GPU in CPU-only Caffe", exit status 134). Run in a fresh octave-cli, since an
% abort would take this runner with it.
root = getenv('RLL_CAFFE_ROOT');
check(caffe_('cpu_only'), 'this test is for the CPU_ONLY build that make test-octave builds');
[solver_file, dir] = small_net(6, 4, 10);
home = tempname();
mkdir(home);
script = sprintf(['addpath(''%s/matlab/''); caffe.set_mode_gpu(); caffe.set_device(0); caffe.set_mode_gpu(); ' ...
                  'net = caffe.Net(''%s'', ''train''); net.blobs(''data'').set_data(single(randn(4, 6))); ' ...
                  'net.blobs(''label'').set_data(single([0; 0; 1; 1; 2; 2])); net.forward_prefilled(); ' ...
                  'printf(''loss %%.4f\\n'', net.blobs(''loss'').get_data()); ' ...
                  's = caffe.get_solver(''%s'', 0); s.step(1); printf(''stepped %%d\\n'', s.iter());'], ...
                 root, fullfile(dir, 'net.prototxt'), solver_file);
octave = fullfile(OCTAVE_HOME(), 'bin', 'octave-cli');
[status, out] = system(sprintf('HOME=%s GLOG_minloglevel=2 %s --no-gui --no-window-system --eval "%s" 2>&1', ...
                               home, octave, script));
check(status == 0, 'exit status %d (134 is the abort):\n%s', status, out);
check(~isempty(regexp(out, 'loss \d+\.\d{4}', 'once')) && ~isempty(strfind(out, 'stepped 1')), ...
      'forward and a solver step on the CPU:\n%s', out);
warnings = regexp(out, 'warning: (caffe_: )?caffe\.\w+: this Caffe is built CPU_ONLY[^\n]*', 'match');
check(numel(warnings) == 1 && ~isempty(strfind(warnings{1}, 'running on the CPU')), ...
      'one warning for all GPU calls, naming the build:\n%s', out);
confirm_recursive_rmdir(false, 'local');
rmdir(home, 's');
end
