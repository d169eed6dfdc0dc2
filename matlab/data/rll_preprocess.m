function out = rll_preprocess(img, mode, style)
% out = rll_preprocess(img, mode, style)
%   An image (H x W x C uint8, RGB or grey) as the RLL nets take it (docs/octave.md): 227 x 227 x 3 single, width
%   first (matcaffe order), BGR, mean [104 117 123] subtracted, no scaling. mode: 'train' (random augmentation)
%   or 'test' (centre crop). style:
%   'v2020' (SOP, In-shop): resize to 256 x 256 ignoring the aspect ratio; train: a crop of random aspect ratio
%           in [3/4, 4/3] and side scale in [0.5, 1] (kept under 256), flipped with p = 0.5, resized to 227.
%   'v2019' (CUB, Cars, also the V2020 Market run): crop to the bounding box of non-white pixels (grey < 250)
%           plus 15 px, resize the longer side to 256, pad to 256 x 256 with white; train: flip with p = 0.5
%           and a random 227 crop.
if size(img, 3) == 1, img = repmat(img, [1 1 3]); end
img = double(img);
switch style
  case 'v2020'
    img = rll_resize(img, [256 256]);
    if strcmp(mode, 'train')
      ratio = exp(log(3 / 4) + rand() * (log(4 / 3) - log(3 / 4)));
      side = 256 * (0.5 + 0.5 * rand());
      ch = min(255, round(side / sqrt(ratio)));
      cw = min(255, round(side * sqrt(ratio)));
      y = randi(256 - ch + 1);
      x = randi(256 - cw + 1);
      img = img(y:y + ch - 1, x:x + cw - 1, :);
      if rand() < 0.5, img = img(:, end:-1:1, :); end
      img = rll_resize(img, [227 227]);
    else
      img = img(15:241, 15:241, :);
    end
  case 'v2019'
    grey = mean(img, 3);
    [rows, cols] = find(grey < 250);
    if ~isempty(rows)
      r = max(1, min(rows) - 15):min(size(img, 1), max(rows) + 15);
      c = max(1, min(cols) - 15):min(size(img, 2), max(cols) + 15);
      img = img(r, c, :);
    end
    scale = 256 / max(size(img, 1), size(img, 2));
    img = rll_resize(img, max(1, round([size(img, 1), size(img, 2)] * scale)));
    padded = 255 * ones(256, 256, 3);
    oy = floor((256 - size(img, 1)) / 2);
    ox = floor((256 - size(img, 2)) / 2);
    padded(oy + (1:size(img, 1)), ox + (1:size(img, 2)), :) = img;
    img = padded;
    if strcmp(mode, 'train')
      if rand() < 0.5, img = img(:, end:-1:1, :); end
      y = randi(30);
      x = randi(30);
      img = img(y:y + 226, x:x + 226, :);
    else
      img = img(15:241, 15:241, :);
    end
  otherwise
    error('rll_preprocess: style must be ''v2020'' or ''v2019'', not ''%s''', style);
end
bgr = img(:, :, [3 2 1]);
bgr = bsxfun(@minus, bgr, reshape([104 117 123], 1, 1, 3));
out = single(permute(bgr, [2 1 3]));   % width first, as matcaffe
end
