function d = rll_load_fashion_mnist(root)
% d = rll_load_fashion_mnist(root)
%   Fashion-MNIST from its four IDX files (Debian's dataset-fashion-mnist puts them in
%   /usr/share/datasets/fashion-mnist). d.train / d.test have images (28 x 28 x 1 x N single in [0, 1],
%   matcaffe order) and labels (N x 1, 0..9).

if nargin < 1 || isempty(root), root = '/usr/share/datasets/fashion-mnist'; end
parts = {'train', 'train'; 'test', 't10k'};
for i = 1:2
  images = find_file(root, [parts{i, 2} '-images-idx3-ubyte']);
  labels = find_file(root, [parts{i, 2} '-labels-idx1-ubyte']);
  x = rll_read_idx(images);
  d.(parts{i, 1}).images = reshape(single(x) / 255, size(x, 1), size(x, 2), 1, size(x, 3));
  d.(parts{i, 1}).labels = double(rll_read_idx(labels));
end
end

function path = find_file(root, stem)
for ext = {'.gz', ''}
  path = fullfile(root, [stem ext{1}]);
  if exist(path, 'file'), return; end
end
error('rll_load_fashion_mnist: %s(.gz) not found in %s (apt-get install dataset-fashion-mnist)', stem, root);
end
