function info = rll_prepare_inshop(root, out)
% info = rll_prepare_inshop(root, out)
%   In-shop Clothes Retrieval from its standard folder (root/Eval/list_eval_partition.txt: a count line, a
%   header line, then "image_name item_id evaluation_status"; images under root/): writes out/train.txt,
%   out/query.txt and out/gallery.txt. Query and gallery share one class numbering (the separate query/gallery
%   protocol, docs/octave.md). Also the authors' lists under their names, as MAT-files in the v7 format (MATLAB and
%   GNU Octave both read it; their own -v7.3 files Octave cannot read): InshopClothes_TrainImagePathBoxCell.mat
%   (TrainImagePathBoxCell, class_ids) and InshopClothes_EvaImagePathBoxCell.mat (TestImagePathBoxCell, class_ids:
%   the query images, then the gallery images), so that their train_multiGPUs.m and test_*.m load them.
path = fullfile(root, 'Eval', 'list_eval_partition.txt');
fid = fopen(path, 'r');
if fid < 0, error('rll_prepare_inshop: %s not found', path); end
c = textscan(fid, '%s %s %s', 'HeaderLines', 2);
fclose(fid);
[files, items, status] = deal(cellfun(@(p) fullfile(root, p), c{1}, 'UniformOutput', false), c{2}, c{3});
if ~exist(out, 'dir'), mkdir(out); end
train = strcmp(status, 'train');
rll_write_list(fullfile(out, 'train.txt'), files(train), rll_rebase(items(train)));
evaluation = ~train;
ids = zeros(numel(files), 1);
ids(evaluation) = rll_rebase(items(evaluation));
for split = {'query', 'gallery'}
  sel = strcmp(status, split{1});
  rll_write_list(fullfile(out, [split{1} '.txt']), files(sel), ids(sel));
  info.([split{1} '_images']) = nnz(sel);
end
TrainImagePathBoxCell = files(train);
class_ids = rll_rebase(items(train));
save('-v7', fullfile(out, 'InshopClothes_TrainImagePathBoxCell.mat'), 'TrainImagePathBoxCell', 'class_ids');
order = [find(strcmp(status, 'query')); find(strcmp(status, 'gallery'))];
TestImagePathBoxCell = files(order);
class_ids = ids(order);
save('-v7', fullfile(out, 'InshopClothes_EvaImagePathBoxCell.mat'), 'TestImagePathBoxCell', 'class_ids');
info.train_images = nnz(train);
info.train_classes = numel(unique(items(train)));
info.test_classes = numel(unique(items(evaluation)));
end
