function previous = rll_rng_state(state)
% previous = rll_rng_state(state)
%   Swaps the global uniform generator's state (the one randperm uses) for `state` and returns the previous one,
%   so that a component can keep a private, reproducible stream. A scalar `state` seeds a fresh stream.
%   Works in MATLAB (rng) and GNU Octave (rand('state')).

if exist('OCTAVE_VERSION', 'builtin')
  previous = rand('state');
  rand('state', state);   % a seed or a saved state vector
else
  previous = rng();
  if isscalar(state)
    rng(state, 'twister');
  else
    rng(state);
  end
end
end
