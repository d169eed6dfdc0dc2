function recall = rll_recall_at_k(features, labels, ks, gallery_features, gallery_labels)
% recall = rll_recall_at_k(features, labels, ks)
%   Recall@K as the RLL evaluation (docs/octave.md): features (D x N, one column per image, as matcaffe returns them)
%   are L2-normalised, similarity is the cosine, each image queries all the others (itself excluded), and scores
%   1 at K if one of its K most similar images has its label. Returns one value per entry of ks.
% recall = rll_recall_at_k(query_features, query_labels, ks, gallery_features, gallery_labels)
%   The separate query/gallery protocol of In-shop: queries against the gallery only (no exclusion).

q = rll_l2_normalise(double(features));
labels = labels(:);
if nargin >= 4
  g = rll_l2_normalise(double(gallery_features));
  gallery_labels = gallery_labels(:);
  sim = q' * g;
else
  g_labels = labels;
  sim = q' * q;
  sim(1:size(sim, 1) + 1:end) = -Inf;   % self-matches excluded
  gallery_labels = g_labels;
end
kmax = max(ks);
n = size(sim, 1);
hit_rank = Inf(n, 1);   % rank of the first neighbour with the query's label
block = 1024;           % rows at a time: sorting N x N at once needs too much memory for large N
for r0 = 1:block:n
  rows = r0:min(n, r0 + block - 1);
  [~, order] = sort(sim(rows, :), 2, 'descend');
  top = gallery_labels(order(:, 1:min(kmax, size(order, 2))));
  if numel(rows) == 1, top = top(:)'; end
  match = bsxfun(@eq, top, labels(rows));
  [found, first] = max(match, [], 2);
  first(~found) = Inf;
  hit_rank(rows) = first;
end
recall = arrayfun(@(k) mean(hit_rank <= k), ks);
end
