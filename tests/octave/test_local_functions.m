function test_local_functions()
% rll_local_functions, as an Octave user of the authors' evaluation scripts calls it: fresh octave-cli sessions
% that only add <caffe>/matlab/ (where apply --matcaffe installs it). Without it, a script that calls its trailing
% local functions stops at "undefined"; with it, each script gets its own definition (two helpers define
% compute_recall_at_K with four and with five arguments, as the authors' do), a local function calls another, a
% function file is left alone, and the user's files are unchanged. Recalls worked out by hand in the scripts.
root = getenv('RLL_CAFFE_ROOT');
check(exist(fullfile(root, 'matlab', 'rll_local_functions.m'), 'file') == 2, ...
      'apply --matcaffe must install rll_local_functions.m into <caffe>/matlab');
src = fullfile(fileparts(mfilename('fullpath')), 'scripts');
dir = tempname();
mkdir(dir);
copyfile(fullfile(src, '*.m'), dir);
before = cellfun(@(f) fileread(fullfile(dir, f)), {'lf_recall_four.m', 'lf_recall_five.m', 'lf_main.m'}, ...
                 'UniformOutput', false);

[status, out] = octave_run(root, sprintf('addpath(''%s''); lf_main', dir));
check(status ~= 0 && ~isempty(strfind(out, '''compute_recall_at_K'' undefined')), ...
      'without rll_local_functions Octave should stop at the undefined local function:\n%s', out);

[status, out] = octave_run(root, sprintf(['g = rll_local_functions(''%s''); printf(''generated %%s\\n'', g); ' ...
                                          'addpath(''%s''); lf_main'], dir, dir));
check(status == 0, 'lf_main with rll_local_functions, exit status %d:\n%s', status, out);
check(~isempty(strfind(out, 'four: rank1 0.500 rank2 0.750')), 'four-argument helper:\n%s', out);
check(~isempty(strfind(out, 'compute_recall_at_K (2 scripts)')), 'the shared name is warned about:\n%s', out);
g = regexp(out, 'generated (\S+)', 'tokens', 'once');
check(~isempty(g) && isempty(strfind(g{1}, dir)), 'generated files go to a private folder, not the user''s');

cmd = sprintf(['rll_local_functions(''%s''); addpath(''%s''); scores = [0 0.9 0.1 0.05; 0.9 0 0.7 0.2; ' ...
               '0.1 0.7 0 0.3; 0.05 0.2 0.3 0]; ids = [1 2 2 1]; lf_recall_five; printf(''%%d\\n'', ' ...
               'lf_plain_function(1))'], dir, dir);
[status, out] = octave_run(root, cmd);
check(status == 0 && ~isempty(strfind(out, 'five: rank1 0.500')), 'five-argument helper (%d):\n%s', status, out);
check(~isempty(regexp(out, '(^|\n)2\n', 'once')), 'the function file still works:\n%s', out);

after = cellfun(@(f) fileread(fullfile(dir, f)), {'lf_recall_four.m', 'lf_recall_five.m', 'lf_main.m'}, ...
                'UniformOutput', false);
check(isequal(before, after), 'the user''s scripts must be unchanged');
check(numel(dir_names(dir)) == 4, 'no file added to the user''s folder');
confirm_recursive_rmdir(false, 'local');
rmdir(dir, 's');
end

function [status, out] = octave_run(root, code)
home = tempname();
mkdir(home);
octave = fullfile(OCTAVE_HOME(), 'bin', 'octave-cli');
script = sprintf('addpath(''%s/matlab/''); %s', root, code);
[status, out] = system(sprintf('cd %s && HOME=%s %s --no-gui --no-window-system --eval "%s" 2>&1', ...
                               home, home, octave, script));
end

function names = dir_names(folder)
d = dir(folder);
names = setdiff({d.name}, {'.', '..'});
end
