function rll_setup(caffe_root)
% rll_setup(caffe_root)
%   Puts matcaffe (from a Caffe tree patched by caffe_patch/apply --matcaffe and built with matcaffe) and this
%   folder on the path. In GNU Octave it also adds +caffe/private, which Octave does not search inside a package.
%   caffe_root defaults to $RLL_CAFFE_ROOT, else build/caffe of this repository.

here = fileparts(mfilename('fullpath'));
if nargin < 1 || isempty(caffe_root)
  caffe_root = getenv('RLL_CAFFE_ROOT');
  if isempty(caffe_root)
    caffe_root = fullfile(fileparts(here), 'build', 'caffe');
  end
end
matcaffe = fullfile(caffe_root, 'matlab');
if ~exist(fullfile(matcaffe, '+caffe'), 'dir')
  error('rll_setup: no matcaffe under %s (build it: caffe_patch/build_caffe.sh --octave)', caffe_root);
end
addpath(matcaffe);
if exist('OCTAVE_VERSION', 'builtin')
  addpath(fullfile(matcaffe, '+caffe', 'private'));
end
addpath(here);
addpath(fullfile(here, 'data'));
addpath(fullfile(here, 'eval'));
end
