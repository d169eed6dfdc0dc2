function test_clean_exit()
% A fresh octave-cli, as a user runs the original scripts: it only adds <caffe>/matlab/ to the path (no
% +caffe/private, no rll_setup), gets a solver with caffe.get_solver, steps it and exits. It must succeed and print
% no 'error:' line, with a home folder that has never run Octave (where Octave 7's history folder is missing).
root = getenv('RLL_CAFFE_ROOT');
check(~isempty(root), 'RLL_CAFFE_ROOT must name the patched Caffe tree');
solver_file = small_net(6, 4, 10);
home = tempname();
mkdir(home);
script = sprintf(['addpath(''%s/matlab/''); caffe.set_mode_cpu(); s = caffe.get_solver(''%s''); ' ...
                  's.step(2); printf(''iter %%d\\n'', s.iter());'], root, solver_file);
octave = fullfile(OCTAVE_HOME(), 'bin', 'octave-cli');
cmd = sprintf('HOME=%s GLOG_minloglevel=2 %s --no-gui --no-window-system --eval "%s" 2>&1', home, octave, script);
[status, out] = system(cmd);
check(status == 0, 'exit status %d:\n%s', status, out);
check(~isempty(strfind(out, 'iter 2')), 'the solver did not step:\n%s', out);
check(isempty(regexp(out, '(^|\n)error:', 'once')), 'an error line on a successful run:\n%s', out);
confirm_recursive_rmdir(false, 'local');
rmdir(home, 's');
end
