function nmi = rll_nmi(clusters, classes)
% nmi = rll_nmi(clusters, classes)
%   Normalised mutual information NMI = 2 I(cluster; class) / (H(cluster) + H(class)), as the RLL evaluation
%   (docs/octave.md), from two label vectors of the same length (e.g. k-means assignments and class ids).

[~, ~, a] = unique(clusters(:));
[~, ~, b] = unique(classes(:));
n = numel(a);
joint = accumarray([a, b], 1) / n;
pa = sum(joint, 2);
pb = sum(joint, 1);
nz = joint > 0;
outer = pa * pb;
mutual = sum(joint(nz) .* log(joint(nz) ./ outer(nz)));
h = @(p) -sum(p(p > 0) .* log(p(p > 0)));
denominator = h(pa) + h(pb);
if denominator == 0
  nmi = 1;   % one cluster and one class: identical partitions
else
  nmi = 2 * mutual / denominator;
end
end
