function ids = rll_rebase(labels)
% ids = rll_rebase(labels): class ids 1..C in order of first appearance, for any labels (numbers or strings).
[~, first, ids] = unique(labels(:), 'first');
[~, order] = sort(first);
position(order) = 1:numel(order);
ids = position(ids);
ids = ids(:);
end
