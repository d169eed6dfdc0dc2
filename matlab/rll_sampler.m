function sampler = rll_sampler(class_ids, P, K, seed)
% sampler = rll_sampler(class_ids, P, K, seed)
%   A P x K batch sampler as the original RLL training scripts (docs/octave.md):
%   - each epoch a random permutation of floor(#classes / P) * P distinct classes; each batch takes the next P;
%   - K images per class without replacement (randperm(n, K)), or, for a class of n < K images, the indices
%     mod(randperm(K), n) + 1 (repeats);
%   - samples of a class are contiguous in the batch; labels are class_id - 1 (0-based, single).
%   class_ids: one positive integer class id per image. The sampler carries its own random state (seeded), so
%   batches are reproducible and a training run can be resumed (save the struct). Draw with rll_next_batch.

if nargin < 4, seed = 123; end
class_ids = double(class_ids(:));
if any(class_ids < 1) || any(class_ids ~= round(class_ids))
  error('rll_sampler: class_ids must be positive integers (1-based)');
end
classes = unique(class_ids);
if numel(classes) < P
  error('rll_sampler: P = %d classes per batch, but the data has only %d classes', P, numel(classes));
end
sampler.P = P;
sampler.K = K;
sampler.classes = classes;
sampler.members = cell(numel(classes), 1);
for c = 1:numel(classes)
  sampler.members{c} = find(class_ids == classes(c));
end
sampler.valid_num = floor(numel(classes) / P) * P;
sampler.order = [];
sampler.next = 1;
sampler.epoch = 0;
previous = rll_rng_state(seed);              % seed a private stream ...
sampler.rng_state = rll_rng_state(previous);  % ... keep it, and give the caller's back
end
