function [idx, labels, sampler] = rll_next_batch(sampler)
% [idx, labels, sampler] = rll_next_batch(sampler)
%   The next P x K batch of an rll_sampler: idx are image indices (P*K x 1, classes contiguous), labels their
%   0-based class ids (single). Returns the advanced sampler.

prev = rll_rng_state(sampler.rng_state);   % use the sampler's own stream; restore the caller's afterwards
if sampler.next + sampler.P - 1 > numel(sampler.order)
  perm = randperm(numel(sampler.classes));
  sampler.order = perm(1:sampler.valid_num);
  sampler.next = 1;
  sampler.epoch = sampler.epoch + 1;
end
chosen = sampler.order(sampler.next:sampler.next + sampler.P - 1);
sampler.next = sampler.next + sampler.P;
K = sampler.K;
idx = zeros(sampler.P * K, 1);
labels = zeros(sampler.P * K, 1, 'single');
for p = 1:sampler.P
  members = sampler.members{chosen(p)};
  n = numel(members);
  if n >= K
    pick = randperm(n, K);
  else
    pick = mod(randperm(K), n) + 1;
  end
  rows = (p - 1) * K + (1:K);
  idx(rows) = members(pick);
  labels(rows) = sampler.classes(chosen(p)) - 1;
end
sampler.rng_state = rll_rng_state(prev);
end
