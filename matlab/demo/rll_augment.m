function batch = rll_augment(batch, seed, shift)
% batch = rll_augment(batch, seed, shift)
%   Training-time augmentation for small grey images (W x H x C x N, matcaffe order): each image is mirrored
%   left-right with probability 1/2 (the clothes classes are mirror-symmetric) and translated by up to `shift`
%   pixels in each direction, the border filled with 0 (the background). The draws come from a private stream
%   seeded with `seed` (give each iteration its own, e.g. seed * 1e6 + iteration): reproducible and resumable,
%   and the caller's generator is left as it was.

prev = rll_rng_state(seed);
n = size(batch, 4);
flip = rand(1, n) < 0.5;
moves = floor(rand(2, n) * (2 * shift + 1)) - shift;
rll_rng_state(prev);
batch(:, :, :, flip) = batch(end:-1:1, :, :, flip);   % dimension 1 is the width in matcaffe order
[w, h, ~, ~] = size(batch);
for k = find(any(moves ~= 0, 1))
  dx = moves(1, k);
  dy = moves(2, k);
  moved = zeros(size(batch(:, :, :, k)), class(batch));
  moved(max(1, 1 + dx):min(w, w + dx), max(1, 1 + dy):min(h, h + dy), :) = ...
      batch(max(1, 1 - dx):min(w, w - dx), max(1, 1 - dy):min(h, h - dy), :, k);
  batch(:, :, :, k) = moved;
end
end
