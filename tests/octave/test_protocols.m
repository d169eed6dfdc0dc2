function test_protocols()
% Two retrieval protocols evaluated at once (rll_evaluate_protocols), on hand-made cases; and the demo's data
% splits: the seen and unseen test sets, and a validation split that holds out training images only.

% Protocol 'seen': the five 2-D points of test_recall_nmi (R@1 = R@2 = 4/5, R@4 = 1 by hand). Protocol 'unseen':
% four points, two tight pairs of other classes: each query's nearest other point is its partner, R@1 = 1.
% The 'images' are the features themselves; the extractor 'negated' flips every vector, which keeps all cosines.
% The extractor 'swap' maps (a, b) to (b, -a): a rotation, also keeping every ranking.
seen = struct('name', 'seen', 'images', [1 0; 0.9 0.1; 0 1; 0.1 0.9; -1 0]', 'labels', [1 1 2 2 1]);
unseen = struct('name', 'unseen', 'images', [1 0; 0.99 0.01; 0 1; 0.01 0.99]', 'labels', [7 7 9 9]);
extractors = {'identity', @(x) x; 'negated', @(x) -x; 'swap', @(x) [x(2, :); -x(1, :)]};
[table, features] = rll_evaluate_protocols([seen, unseen], extractors, [1 2 4], 1);
for m = {'identity', 'negated', 'swap'}
  r = table.seen.(m{1}).recall;
  check(max(abs(r - [0.8 0.8 1])) < 1e-12, 'seen, %s: recall %s (by hand 0.8 0.8 1)', m{1}, mat2str(r));
  r = table.unseen.(m{1}).recall;
  check(isequal(r, [1 1 1]), 'unseen, %s: recall %s (by hand 1 1 1)', m{1}, mat2str(r));
  check(abs(table.unseen.(m{1}).nmi - 1) < 1e-12, 'unseen, %s: two clean clusters, NMI 1', m{1});
end
check(isequal(features.seen.negated, -seen.images), 'features are kept per protocol and extractor');
try
  rll_evaluate_protocols(seen, {'bad', @(x) x(:, 1:2)}, 1, 1);
  check(false, 'a wrong feature count must be refused');
catch err
  check(~isempty(strfind(err.message, 'extractor bad gave 2 features for 5 images of seen')), '%s', err.message);
end

% The demo's splits on the real Fashion-MNIST files.
t = rll_demo_data('fashion-mnist', 'test', @(varargin) []);
check(isequal({t.eval.name}, {'seen', 'unseen'}), 'test split: seen and unseen protocols');
check(isequal(unique(t.train.labels)', 0:4) && numel(t.train.labels) == 30000, 'training: classes 0-4, 30000 images');
check(isequal(unique(t.eval(1).labels)', 0:4) && numel(t.eval(1).labels) == 5000, 'seen: 5000 test images of 0-4');
check(isequal(unique(t.eval(2).labels)', 5:9) && numel(t.eval(2).labels) == 5000, 'unseen: 5000 test images of 5-9');
v = rll_demo_data('fashion-mnist', 'validation', @(varargin) []);
check(numel(v.eval) == 1 && strcmp(v.eval.name, 'validation'), 'validation split: one protocol');
check(numel(v.train.labels) == 25000 && numel(v.eval.labels) == 5000, 'validation: 25000 + 5000 images');
check(all(histc(v.eval.labels, 0:4) == 1000), '1000 held-out images per seen class');
% Held-out and training images together are exactly the seen classes' training images (no test image).
both = cat(4, v.train.images, v.eval.images);
key = @(x) sortrows(reshape(x, [], size(x, 4))');
check(isequal(key(both), key(t.train.images)), 'validation + training = the seen training images');
v2 = rll_demo_data('fashion-mnist', 'validation', @(varargin) []);
check(isequal(v2.eval.images, v.eval.images), 'the validation split is fixed');
end
