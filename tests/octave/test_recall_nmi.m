function test_recall_nmi()
% Recall@K and NMI against cases computed by hand.
% Five 2-D features (columns); cosine similarity after L2 normalisation; self excluded.
f = [1 0; 0.9 0.1; 0 1; 0.1 0.9; -1 0]';
l = [1 1 2 2 1];
% Queries 1-4 find their partner first. Query 5 (-1, 0) ranks 3 (cos 0), 4 (-0.11), 2 (-0.99), 1 (-1):
% its first same-class neighbour is 4th. So R@1 = R@2 = 4/5, R@4 = 1.
r = rll_recall_at_k(f, l, [1 2 4]);
check(max(abs(r - [0.8 0.8 1])) < 1e-12, 'recall %s', mat2str(r));
% Scaling a feature does not change the cosine ranking.
r2 = rll_recall_at_k(bsxfun(@times, f, [3 1 7 2 0.5]), l, [1 2 4]);
check(isequal(r, r2), 'recall must use normalised features');
% Query/gallery (In-shop): no exclusion; query 1 = (1, 0) class 2 finds gallery item 2 = (0.8, 0.2) class 2.
q = [1 0; 0 1]'; ql = [2 1];
g = [0 1; 0.8 0.2; -1 0]'; gl = [1 2 1];
r = rll_recall_at_k(q, ql, [1 2], g, gl);
check(isequal(r, [1 1]), 'query/gallery recall %s', mat2str(r));

% NMI: clusters [1 1 2 2] vs classes [1 1 1 2]. By hand: joint p = .5, .25, .25; p(cluster) = [.5 .5],
% p(class) = [.75 .25]; I = .5 ln(4/3) + .25 ln(2/3) + .25 ln 2 = 0.215762; H(cluster) = ln 2 = 0.693147;
% H(class) = 0.562335; NMI = 2 I / (H + H) = 0.343712.
check(abs(rll_nmi([1 1 2 2], [1 1 1 2]) - 0.343712) < 1e-5, 'nmi %.6f', rll_nmi([1 1 2 2], [1 1 1 2]));
check(abs(rll_nmi([3 3 9 9], [1 1 2 2]) - 1) < 1e-12, 'identical partitions: NMI 1');
check(abs(rll_nmi([1 2 1 2], [1 1 2 2])) < 1e-12, 'independent partitions: NMI 0');
% k-means recovers two well-separated clusters (NMI 1), reproducibly.
x = [randn(2, 20) * 0.1 + 5, randn(2, 20) * 0.1 - 5];
a1 = rll_kmeans(x, 2, 3);
a2 = rll_kmeans(x, 2, 3);
check(isequal(a1, a2), 'k-means is seeded');
check(abs(rll_nmi(a1, [ones(1, 20), 2 * ones(1, 20)]) - 1) < 1e-12, 'k-means on separated clusters');
res = rll_evaluate(x, [ones(1, 20), 2 * ones(1, 20)], [1 2], 1);
check(isequal(res.recall, [1 1]) && abs(res.nmi - 1) < 1e-12, 'rll_evaluate');
end
