function info = rll_prepare_cub(root, out)
% info = rll_prepare_cub(root, out)
%   CUB-200-2011 from its standard folder (root/images.txt, root/image_class_labels.txt, root/images/...):
%   train on classes 1-100, test on classes 101-200 (the metric-learning split). Writes out/train.txt and
%   out/test.txt ("<image path> <class id 1..100>").
[ids, paths] = read_pairs(fullfile(root, 'images.txt'));
[ids2, classes] = read_pairs(fullfile(root, 'image_class_labels.txt'));
if ~isequal(ids, ids2), error('rll_prepare_cub: images.txt and image_class_labels.txt disagree'); end
classes = cellfun(@str2double, classes);
files = cellfun(@(p) fullfile(root, 'images', p), paths, 'UniformOutput', false);
info = rll_split_by_class(files, classes, classes <= 100, out);
end

function [ids, values] = read_pairs(path)
fid = fopen(path, 'r');
if fid < 0, error('rll_prepare_cub: %s not found (is %s the CUB_200_2011 folder?)', path, fileparts(path)); end
c = textscan(fid, '%d %s');
fclose(fid);
ids = double(c{1});
values = c{2};
end
