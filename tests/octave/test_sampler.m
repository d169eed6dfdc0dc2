function test_sampler()
% The P x K sampler of the original scripts (docs/octave.md): shapes, contiguous classes, 0-based labels, no class twice in an epoch,
% sampling without replacement (repeats only for classes smaller than K), reproducible and resumable.
sizes = [5 2 4 6 3 7 1 5 4];              % class c has sizes(c) images
ids = repelem(1:numel(sizes), sizes);
ids = ids(randperm(numel(ids)));           % class ids in any order in the data set
P = 2; K = 3;
s = rll_sampler(ids, P, K, 11);
check(s.valid_num == 8, 'valid_num = floor(9 / 2) * 2 = 8, got %d', s.valid_num);
seen = [];
for b = 1:4                                % one epoch: 8 classes in 4 batches
  [idx, labels, s] = rll_next_batch(s);
  check(numel(idx) == P * K && isa(labels, 'single'), 'batch shape');
  check(all(labels' == ids(idx) - 1), 'labels are class ids - 1');
  for p = 1:P
    rows = (p - 1) * K + (1:K);
    c = ids(idx(rows(1)));
    check(all(ids(idx(rows)) == c), 'samples of a class are contiguous');
    seen(end + 1) = c;
    if sizes(c) >= K
      check(numel(unique(idx(rows))) == K, 'class %d drawn with replacement', c);
    else
      check(numel(unique(idx(rows))) == sizes(c), 'small class %d must repeat its %d images', c, sizes(c));
    end
  end
end
check(numel(unique(seen)) == 8, 'an epoch visits 8 distinct classes, got %s', mat2str(seen));
check(s.epoch == 1, 'one epoch so far');
[~, ~, s] = rll_next_batch(s);
check(s.epoch == 2, 'a fresh permutation starts epoch 2');

% Reproducible, seed-dependent, and unaffected by the caller's random numbers.
a = rll_sampler(ids, P, K, 5); b = rll_sampler(ids, P, K, 5); c = rll_sampler(ids, P, K, 6);
[ia, ~, a] = rll_next_batch(a); rand(100, 1); [ib, ~, b] = rll_next_batch(b);
[ic, ~, ~] = rll_next_batch(c);
check(isequal(ia, ib), 'same seed, same batch');
check(~isequal(ia, ic), 'another seed, another batch');
% Resumable: a saved sampler continues the same sequence.
saved = a;
[x1, ~, ~] = rll_next_batch(a);
[x2, ~, ~] = rll_next_batch(saved);
check(isequal(x1, x2), 'a copy of the sampler continues identically');
try
  rll_sampler(ids, 20, K, 1);
  check(false, 'P above the number of classes must be refused');
catch err
  check(~isempty(strfind(err.message, 'only 9 classes')), 'message: %s', err.message);
end
end
