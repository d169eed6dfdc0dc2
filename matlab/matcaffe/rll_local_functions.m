function generated = rll_local_functions(folder)
% generated = rll_local_functions(folder)
%   GNU Octave: lets the scripts under FOLDER (and its subfolders) call the local functions they define after
%   their code, as MATLAB R2016b and later allow. Octave defines a function written in a script only once
%   execution reaches its definition, so such a script stops at "'name' undefined" (the authors' evaluation
%   helpers, for instance test_ori_center_crop_v04_InshopClothes.m and compute_recall_at_K).
%
%   For each script with trailing functions, their text is written verbatim into a generated function file
%   rll_lf_<k>.m (the functions become its subfunctions, so they still see each other), and for each function
%   name a small function file <name>.m that calls the definition of the script that called it (several scripts
%   may define the same name differently). Those files go into a private folder under tempdir, which is put at the
%   END of the path: nothing already on the path is shadowed. The user's files are never changed; a second call
%   rewrites the generated folder. Returns that folder. In MATLAB it does nothing and returns ''.
%
%   Octave keeps a script's functions once execution has reached them: when two scripts define one name
%   differently and both run in one session, the second sees the first's until it reaches its own. Such names
%   are listed in a warning. A name that is already a function on the path or a built-in is left alone (warned).
%
%   Example, before the authors' test script (their addpath lines stay as they are):
%     addpath('<caffe>/matlab/'); rll_local_functions('<their repository>'); test_H
%   (ranked-list-loss: installed into <caffe>/matlab by caffe_patch/apply --matcaffe)

generated = '';
if ~exist('OCTAVE_VERSION', 'builtin')
  return;  % MATLAB runs local functions in scripts itself
end
if nargin ~= 1 || ~ischar(folder) || ~exist(folder, 'dir')
  error('rll_local_functions: FOLDER must name an existing folder');
end
folder = canonicalize_file_name(folder);
generated = fullfile(tempdir(), ['rll_local_functions_' hash('md5', folder)]);

% Forget an earlier call's files before asking what the path already defines.
if any(strcmp(generated, strsplit(path(), pathsep())))
  rmpath(generated);
end
if exist(generated, 'dir')
  confirm_recursive_rmdir(false, 'local');
  rmdir(generated, 's');
end
mkdir(generated);

scripts = find_scripts(folder);
defs = struct();       % name -> {script file, generated file; ...}
skipped = {};
for k = 1:numel(scripts)
  [block, names] = trailing_functions(scripts{k});
  if isempty(names)
    continue;
  end
  impl = sprintf('rll_lf_%d', k);
  write_impl(fullfile(generated, [impl '.m']), impl, scripts{k}, block, names);
  for n = 1:numel(names)
    name = names{n};
    if any(exist(name) == [2 3 5])  % a file, MEX or built-in already: the path keeps it
      skipped{end + 1} = sprintf('%s (%s)', name, scripts{k});
      continue;
    end
    if ~isfield(defs, name)
      defs.(name) = cell(0, 2);
    end
    defs.(name)(end + 1, :) = {scripts{k}, impl};
  end
end

names = fieldnames(defs);
shared = {};
for n = 1:numel(names)
  write_dispatch(fullfile(generated, [names{n} '.m']), names{n}, defs.(names{n}));
  if rows(defs.(names{n})) > 1
    shared{end + 1} = sprintf('%s (%d scripts)', names{n}, rows(defs.(names{n})));
  end
  clear(names{n});
end
addpath(generated, '-end');
rehash();
printf('rll_local_functions: %d local functions of the scripts under %s, callable from %s\n', numel(names), ...
       folder, generated);
if ~isempty(shared)
  warning('rll_local_functions:shared', ['rll_local_functions: defined by several scripts: %s. Each script ' ...
          'gets its own, but once one of them has run to its end Octave keeps that definition for the ' ...
          'session.'], strjoin(shared, ', '));
end
if ~isempty(skipped)
  warning('rll_local_functions:exists', 'rll_local_functions: already a function, left alone: %s', ...
          strjoin(skipped, ', '));
end
end

function files = find_scripts(folder)
% Every .m file under folder, but in class (@), package (+) and private folders, which scripts do not use.
files = {};
entries = dir(folder);
for e = entries(:)'
  if any(strcmp(e.name, {'.', '..'}))
    continue;
  end
  path_e = fullfile(folder, e.name);
  if e.isdir
    if e.name(1) ~= '@' && e.name(1) ~= '+' && ~strcmp(e.name, 'private')
      files = [files, find_scripts(path_e)];
    end
  elseif numel(e.name) > 2 && strcmp(e.name(end - 1:end), '.m')
    files{end + 1} = path_e;
  end
end
end

function [block, names] = trailing_functions(file)
% The text from a script's first function definition to its end, and the names defined there; nothing for a
% function or class file (its first statement is function or classdef).
block = '';
names = {};
lines = strsplit(fileread(file), "\n");
in_comment = false;
first_code = true;
for i = 1:numel(lines)
  line = strtrim(lines{i});
  if in_comment
    in_comment = ~strcmp(line, '%}') && ~strcmp(line, '#}');
    continue;
  end
  if strcmp(line, '%{') || strcmp(line, '#{')
    in_comment = true;
    continue;
  end
  if isempty(line) || line(1) == '%' || line(1) == '#'
    continue;
  end
  is_function = ~isempty(regexp(line, '^function\>', 'once'));
  if first_code
    if is_function || ~isempty(regexp(line, '^classdef\>', 'once'))
      return;
    end
    first_code = false;
  elseif is_function
    block = strjoin(lines(i:end), "\n");
    break;
  end
end
if isempty(block)
  return;
end
tokens = regexp(block, ['(?m)^\s*function\s+(?:\[[^\]]*\]\s*=\s*|[A-Za-z]\w*\s*=\s*)?([A-Za-z]\w*)'], 'tokens');
names = unique(cellfun(@(t) t{1}, tokens, 'UniformOutput', false));
end

function write_impl(file, impl, script, block, names)
% impl(name, args...) calls the script's function NAME, a subfunction here.
fid = fopen(file, 'w');
fprintf(fid, 'function varargout = %s(rll_lf_name, varargin)\n', impl);
fprintf(fid, '%% Generated by rll_local_functions: the local functions of\n%%   %s\n', script);
fprintf(fid, 'switch rll_lf_name\n');
for n = 1:numel(names)
  fprintf(fid, '  case ''%s''\n    [varargout{1:nargout}] = %s(varargin{:});\n', names{n}, names{n});
end
fprintf(fid, 'end\nend\n\n%s\n', block);
fclose(fid);
end

function write_dispatch(file, name, defs)
% name(args...): the definition of the script that calls it, or the only one.
fid = fopen(file, 'w');
fprintf(fid, 'function varargout = %s(varargin)\n', name);
fprintf(fid, '%% Generated by rll_local_functions: %s, a local function of the scripts below.\n', name);
fprintf(fid, 'defs = {');
for k = 1:rows(defs)
  fprintf(fid, '''%s'', ''%s''; ', strrep(defs{k, 1}, '''', ''''''), defs{k, 2});
end
fprintf(fid, '};\nimpl = defs{1, 2};\n');
fprintf(fid, ['if rows(defs) > 1\n' ...
              '  st = dbstack(''-completenames'');\n' ...
              '  caller = '''';\n' ...
              '  if numel(st) >= 2, caller = st(2).file; end\n' ...
              '  k = find(strcmp(defs(:, 1), caller), 1);\n' ...
              '  if isempty(k)\n' ...
              '    error(''%s: a local function of %%d scripts (%%s), called from %%s, none of them'', ...\n' ...
              '          rows(defs), strjoin(defs(:, 1)'', '', ''), caller);\n' ...
              '  end\n' ...
              '  impl = defs{k, 2};\n' ...
              'end\n' ...
              '[varargout{1:nargout}] = feval(impl, ''%s'', varargin{:});\nend\n'], name, name);
fclose(fid);
end
