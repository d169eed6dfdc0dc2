function test_data_prep()
% The data-preparation scripts on small generated folders in the CUB-200-2011, Cars196, Stanford Online Products
% and In-shop layouts; the image-list loader; the preprocessing of docs/octave.md.
root = tempname();
mkdir(root);
img = uint8(cat(3, 200 * ones(20, 30), 100 * ones(20, 30), 50 * ones(20, 30)));
img(5:15, 8:20, :) = 10;   % a dark object on a light background

% CUB: 4 classes of 2 images; classes 1-100 train, 101-200 test, so here class ids 1..4 all train and none test:
% use ids 99, 100, 101, 102 to straddle the split.
cub = fullfile(root, 'CUB_200_2011');
classes = [99 99 100 100 101 101 102 102];
fi = fopen(fullfile(cub_dir(cub), 'images.txt'), 'w'); fl = fopen(fullfile(cub, 'image_class_labels.txt'), 'w');
for i = 1:8
  rel = sprintf('%03d.bird/img_%d.png', classes(i), i);
  if ~exist(fullfile(cub, 'images', fileparts(rel)), 'dir'), mkdir(fullfile(cub, 'images', fileparts(rel))); end
  imwrite(img, fullfile(cub, 'images', rel));
  fprintf(fi, '%d %s\n', i, rel); fprintf(fl, '%d %d\n', i, classes(i));
end
fclose(fi); fclose(fl);
info = rll_prepare_cub(cub, fullfile(root, 'cub_lists'));
check(info.train_images == 4 && info.train_classes == 2 && info.test_images == 4 && info.test_classes == 2, ...
      'CUB split');
[files, ids] = rll_read_list(fullfile(root, 'cub_lists', 'test.txt'));
check(isequal(ids', [1 1 2 2]) && exist(files{1}, 'file') == 2, 'CUB test list rebased to 1..2');

% Cars196: annotations struct array in cars_annos.mat; classes 1-98 train, 99-196 test.
cars = fullfile(root, 'cars');
mkdir(fullfile(cars, 'car_ims'));
annotations = struct('relative_im_path', {}, 'class', {});
for i = 1:6
  rel = sprintf('car_ims/%06d.png', i);
  imwrite(img, fullfile(cars, rel));
  annotations(i).relative_im_path = rel;
  annotations(i).class = 97 + ceil(i / 2);   % 98, 98, 99, 99, 100, 100
end
save('-v7', fullfile(cars, 'cars_annos.mat'), 'annotations');
info = rll_prepare_cars(cars, fullfile(root, 'cars_lists'));
check(info.train_images == 2 && info.test_images == 4 && info.test_classes == 2, 'Cars split');

% SOP: Ebay_train.txt / Ebay_test.txt with a header line.
sop = fullfile(root, 'Stanford_Online_Products');
mkdir(fullfile(sop, 'bicycle_final'));
for split = {'train', 'test'}
  f = fopen(fullfile(sop, ['Ebay_' split{1} '.txt']), 'w');
  fprintf(f, 'image_id class_id super_class_id path\n');
  for i = 1:4
    rel = sprintf('bicycle_final/%s_%d.png', split{1}, i);
    imwrite(img, fullfile(sop, rel));
    fprintf(f, '%d %d 1 %s\n', i, 10 * strcmp(split{1}, 'test') + ceil(i / 2), rel);
  end
  fclose(f);
end
info = rll_prepare_sop(sop, fullfile(root, 'sop_lists'));
check(info.train_images == 4 && info.test_classes == 2, 'SOP lists');
[~, ids] = rll_read_list(fullfile(root, 'sop_lists', 'test.txt'));
check(isequal(ids', [1 1 2 2]), 'SOP test ids rebased');

% In-shop: Eval/list_eval_partition.txt with a count line and a header line.
shop = fullfile(root, 'InShop');
mkdir(fullfile(shop, 'Eval'));
mkdir(fullfile(shop, 'img', 'WOMEN'));
rows = {'id_1', 'train'; 'id_1', 'train'; 'id_2', 'query'; 'id_2', 'gallery'; 'id_3', 'query'; 'id_3', 'gallery'};
f = fopen(fullfile(shop, 'Eval', 'list_eval_partition.txt'), 'w');
fprintf(f, '%d\nimage_name item_id evaluation_status\n', size(rows, 1));
for i = 1:size(rows, 1)
  rel = sprintf('img/WOMEN/%d.png', i);
  imwrite(img, fullfile(shop, rel));
  fprintf(f, '%s %s %s\n', rel, rows{i, 1}, rows{i, 2});
end
fclose(f);
info = rll_prepare_inshop(shop, fullfile(root, 'shop_lists'));
check(info.train_images == 2 && info.query_images == 2 && info.gallery_images == 2, 'In-shop split');
[~, q] = rll_read_list(fullfile(root, 'shop_lists', 'query.txt'));
[~, g] = rll_read_list(fullfile(root, 'shop_lists', 'gallery.txt'));
check(isequal(q, g), 'query and gallery share class ids');
% The authors' MAT lists, in a format MATLAB and Octave both read.
t = load(fullfile(root, 'shop_lists', 'InshopClothes_TrainImagePathBoxCell.mat'));
check(iscell(t.TrainImagePathBoxCell) && numel(t.TrainImagePathBoxCell) == 2 && isequal(t.class_ids(:)', [1 1]) ...
      && ~isempty(strfind(t.TrainImagePathBoxCell{2}, 'img/WOMEN/2.png')), 'In-shop training MAT list');
e = load(fullfile(root, 'shop_lists', 'InshopClothes_EvaImagePathBoxCell.mat'));
check(numel(e.TestImagePathBoxCell) == 4 && isequal(e.class_ids(:)', [q(:)' g(:)']) ...
      && ~isempty(strfind(e.TestImagePathBoxCell{1}, 'img/WOMEN/3.png')) ...
      && ~isempty(strfind(e.TestImagePathBoxCell{3}, 'img/WOMEN/4.png')), 'In-shop evaluation MAT list: query, gallery');

% The image-list loader, and the original preprocessing (docs/octave.md).
[x, ids] = rll_load_image_list(fullfile(root, 'sop_lists', 'train.txt'), [28 28], true);
check(isequal(size(x), [28 28 1 4]) && max(x(:)) <= 1 && min(x(:)) >= 0, 'loader: 28 x 28 grey in [0, 1]');
for style = {'v2019', 'v2020'}
  for mode = {'train', 'test'}
    y = rll_preprocess(img, mode{1}, style{1});
    check(isequal(size(y), [227 227 3]) && isa(y, 'single'), '%s %s: 227 x 227 x 3 single', style{1}, mode{1});
  end
end
white = rll_preprocess(uint8(255 * ones(40, 40, 3)), 'test', 'v2020');
check(all(abs(squeeze(white(100, 100, :))' - (255 - [104 117 123])) < 1e-3), 'BGR mean subtraction');
% Channel order: a pure red image has its value in the last (R) channel after BGR reordering.
red = rll_preprocess(uint8(cat(3, 255 * ones(40, 40), zeros(40, 40), zeros(40, 40))), 'test', 'v2019');
check(abs(red(100, 100, 3) - (255 - 123)) < 1e-3 && abs(red(100, 100, 1) + 104) < 1e-3, 'BGR order');
end

function d = cub_dir(cub)
mkdir(cub);
d = cub;
end
