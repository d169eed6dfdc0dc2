function info = rll_split_by_class(files, labels, is_train, out)
% info = rll_split_by_class(files, labels, is_train, out)
%   Writes out/train.txt (images with is_train) and out/test.txt (the others), class ids re-based to 1..C in
%   each split. Returns the image and class counts.
if ~exist(out, 'dir'), mkdir(out); end
is_train = logical(is_train(:));
rll_write_list(fullfile(out, 'train.txt'), files(is_train), rll_rebase(labels(is_train)));
rll_write_list(fullfile(out, 'test.txt'), files(~is_train), rll_rebase(labels(~is_train)));
info = struct('train_images', nnz(is_train), 'train_classes', numel(unique(labels(is_train))), ...
              'test_images', nnz(~is_train), 'test_classes', numel(unique(labels(~is_train))));
end
