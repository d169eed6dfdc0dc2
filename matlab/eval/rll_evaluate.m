function result = rll_evaluate(features, labels, ks, seed)
% result = rll_evaluate(features, labels, ks, seed)
%   Recall@K (each image a query against all others) and NMI (k-means with k = number of classes) of features
%   (D x N). result.recall(i) is Recall@ks(i); result.nmi the NMI.

if nargin < 4, seed = 1; end
result.ks = ks;
result.recall = rll_recall_at_k(features, labels, ks);
k = numel(unique(labels));
assign = rll_kmeans(rll_l2_normalise(double(features)), k, seed);
result.nmi = rll_nmi(assign, labels);
end
