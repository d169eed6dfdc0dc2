function [images, class_ids] = rll_load_image_list(list_file, hw, grey)
% [images, class_ids] = rll_load_image_list(list_file, [h w], grey)
%   Loads every image of an image-list file, resized to h x w (bilinear) with values in [0, 1], as a
%   w x h x C x N single array (matcaffe order); grey = true averages the channels (C = 1). For the small demo
%   net; the GoogLeNet nets take rll_preprocess instead.
if nargin < 3, grey = false; end
[files, class_ids] = rll_read_list(list_file);
channels = 3;
if grey, channels = 1; end
images = zeros(hw(2), hw(1), channels, numel(files), 'single');
for i = 1:numel(files)
  img = imread(files{i});
  if size(img, 3) == 1, img = repmat(img, [1 1 3]); end
  img = rll_resize(img, hw) / 255;
  if grey, img = mean(img, 3); end
  images(:, :, :, i) = single(permute(img, [2 1 3]));
end
end
