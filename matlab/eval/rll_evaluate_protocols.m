function [table, features] = rll_evaluate_protocols(sets, extractors, ks, seed)
% [table, features] = rll_evaluate_protocols(sets, extractors, ks, seed)
%   Evaluates several feature extractors in several retrieval protocols: for each protocol sets(e) (fields name,
%   images, labels) and each extractor {name, @(images) features (D x N)}, Recall@ks and NMI (rll_evaluate: every
%   image a query against the others of its protocol, self excluded). table.(set name).(extractor name) is
%   rll_evaluate's result; features.(set name).(extractor name) the features themselves.

table = struct();
features = struct();
for e = 1:numel(sets)
  for m = 1:size(extractors, 1)
    f = extractors{m, 2}(sets(e).images);
    if size(f, 2) ~= numel(sets(e).labels)
      error('rll_evaluate_protocols: extractor %s gave %d features for %d images of %s', extractors{m, 1}, ...
            size(f, 2), numel(sets(e).labels), sets(e).name);
    end
    features.(sets(e).name).(extractors{m, 1}) = f;
    table.(sets(e).name).(extractors{m, 1}) = rll_evaluate(f, sets(e).labels, ks, seed);
  end
end
end
