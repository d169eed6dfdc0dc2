function test_mat_lists()
% Image lists in MATLAB's v7.3 format (HDF5), as the authors' data preparation saves them: a file shaped like
% MATLAB's (h5py: the 512-byte header, a cell of strings by object references, a numeric column) loses its cell in
% Octave 7's load; tools/mat73.py to-v7 rewrites it as a v7 MAT-file that both read, with the same contents.
repo = fileparts(fileparts(fileparts(mfilename('fullpath'))));
tool = fullfile(repo, 'tools', 'mat73.py');
dir = tempname();
mkdir(dir);
v73 = fullfile(dir, 'list_v73.mat');
v7 = fullfile(dir, 'list_v7.mat');
[status, out] = system(sprintf('python3 %s write-list %s 2>&1', tool, v73));
check(status == 0, 'writing the v7.3 list: %s', out);
warning('off', 'all', 'local');
raw = load(v73);
check(~isfield(raw, 'TrainImagePathBoxCell'), ['Octave now reads MATLAB v7.3 cells: docs/octave.md''s conversion ' ...
      'step may no longer be needed']);
[status, out] = system(sprintf('python3 %s to-v7 %s %s 2>&1', tool, v73, v7));
check(status == 0, 'converting: %s', out);
s = load(v7);
expected = {'img/WOMEN/001_front.jpg'; 'img/WOMEN/002_front.jpg'; 'img/MEN/007_front.jpg'; 'img/MEN/012_front.jpg'};
check(iscell(s.TrainImagePathBoxCell) && isequal(s.TrainImagePathBoxCell, expected), 'the cell of paths');
check(isequal(s.class_ids, [1; 1; 2; 2]) && isa(s.class_ids, 'double'), 'the class ids, a double column');
check(isequal(raw.class_ids, s.class_ids), 'Octave reads the v7.3 numeric column the same');
% What Octave itself writes for both: -v7 round-trips the same variables.
TrainImagePathBoxCell = s.TrainImagePathBoxCell;
class_ids = s.class_ids;
save('-v7', fullfile(dir, 'octave_v7.mat'), 'TrainImagePathBoxCell', 'class_ids');
check(isequal(load(fullfile(dir, 'octave_v7.mat')), s), '-v7 round trip');
confirm_recursive_rmdir(false, 'local');
rmdir(dir, 's');
end
