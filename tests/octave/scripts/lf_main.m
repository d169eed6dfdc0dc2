% A top-level script as the authors write them: its own addpath to the helpers, then a helper by name.
addpath(fileparts(mfilename('fullpath')));
scores = [0 0.9 0.1 0.05; 0.9 0 0.7 0.2; 0.1 0.7 0 0.3; 0.05 0.2 0.3 0];   % distances
ids = [1 2 2 1];
lf_recall_four;
