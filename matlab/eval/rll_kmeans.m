function [assign, centres] = rll_kmeans(x, k, seed, iters)
% [assign, centres] = rll_kmeans(x, k, seed, iters)
%   Lloyd's k-means on the columns of x (D x N) with k-means++ seeding from its own seeded stream (the
%   original used vgg_kmeans; any k-means serves NMI). Returns a cluster index per column.

if nargin < 3, seed = 1; end
if nargin < 4, iters = 100; end
prev = rll_rng_state(seed);
x = double(x);
n = size(x, 2);
centres = zeros(size(x, 1), k);
centres(:, 1) = x(:, randi(n));
d2 = sum(bsxfun(@minus, x, centres(:, 1)) .^ 2, 1);
for c = 2:k
  p = cumsum(d2) / sum(d2);
  centres(:, c) = x(:, find(rand() <= p, 1));
  d2 = min(d2, sum(bsxfun(@minus, x, centres(:, c)) .^ 2, 1));
end
rll_rng_state(prev);
assign = zeros(1, n);
xx = sum(x .^ 2, 1);
for it = 1:iters
  dist = bsxfun(@plus, xx, bsxfun(@minus, sum(centres .^ 2, 1)', 2 * (centres' * x)));
  [~, new_assign] = min(dist, [], 1);
  if isequal(new_assign, assign), break; end
  assign = new_assign;
  for c = 1:k
    members = assign == c;
    if any(members)
      centres(:, c) = mean(x(:, members), 2);
    end
  end
end
end
