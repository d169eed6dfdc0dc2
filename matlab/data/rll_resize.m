function out = rll_resize(img, hw)
% out = rll_resize(img, [h w]): bilinear resize of an H x W x C image (pixel centres aligned, as imresize
% without antialiasing), in double.
img = double(img);
[h, w, c] = size(img);
y = min(max(((1:hw(1)) - 0.5) * h / hw(1) + 0.5, 1), h);
x = min(max(((1:hw(2)) - 0.5) * w / hw(2) + 0.5, 1), w);
y0 = floor(y); y1 = min(y0 + 1, h); fy = (y - y0)';
x0 = floor(x); x1 = min(x0 + 1, w); fx = x - x0;
out = zeros(hw(1), hw(2), c);
for k = 1:c
  p = img(:, :, k);
  top = bsxfun(@times, p(y0, x0), 1 - fx) + bsxfun(@times, p(y0, x1), fx);
  bottom = bsxfun(@times, p(y1, x0), 1 - fx) + bsxfun(@times, p(y1, x1), fx);
  out(:, :, k) = bsxfun(@times, top, 1 - fy) + bsxfun(@times, bottom, fy);
end
end
