function results = rll_demo(opts)
% results = rll_demo(opts)
%   The main job (make demo): trains a small convnet with RankedListLoss through matcaffe on the training images
%   of Fashion-MNIST's classes 0-4, then compares Recall@1/2/4/8 and NMI of raw pixels, the untrained network and
%   the trained network in two retrieval protocols (rll_demo_data): among the test images of the seen classes
%   (new images of known classes) and among the test images of the unseen classes 5-9 (the paper's zero-shot
%   protocol). The validation splits (rll_demo_data: 'validation', 'classes1', 'classes2') train and evaluate on
%   the seen classes' training images only: the recipe below was chosen on them (make demo-tune,
%   tools/demo_runs.py), never on test images.
%   Writes to opts.out: results.json, rll_demo.png (loss curve, embeddings before and after training),
%   Recall_demo.txt, the checkpoints and the nets.
% Fields of opts [defaults]: semantics ['PAPER' | 'OFFICIAL_V2020' | 'OFFICIAL_V2019'], data ['fashion-mnist'
%   or a folder prepared by matlab/data/rll_prepare_*], split ['test' | 'validation' | 'classes1' | 'classes2'],
%   iters [2000], out ['demo_out'], seed [1] (sampler, augmentation, Caffe's seed and so the initial weights),
%   base_lr [0.005], lr_policy ['poly': linear decay to 0 | 'fixed'], shift [0: no augmentation; s > 0:
%   mirroring and shifts of up to s pixels], dim [128: embedding size], plot [true].

here = fileparts(mfilename('fullpath'));
repo = fileparts(fileparts(here));
defaults = struct('semantics', 'PAPER', 'data', 'fashion-mnist', 'split', 'test', 'iters', 2000, ...
                  'out', 'demo_out', 'seed', 1, 'base_lr', 0.005, 'lr_policy', 'poly', 'shift', 0, 'dim', 128, ...
                  'plot', true);
for f = fieldnames(defaults)'
  if ~isfield(opts, f{1}) || isempty(opts.(f{1})), opts.(f{1}) = defaults.(f{1}); end
end
if ~any(strcmp(opts.semantics, {'PAPER', 'OFFICIAL_V2020', 'OFFICIAL_V2019'}))
  error('rll_demo: SEMANTICS=%s is not one of PAPER, OFFICIAL_V2020, OFFICIAL_V2019', opts.semantics);
end
if ~any(strcmp(opts.lr_policy, {'poly', 'fixed'}))
  error('rll_demo: LR_POLICY=%s is not poly or fixed', opts.lr_policy);
end
if ~exist(opts.out, 'dir'), mkdir(opts.out); end
out = absolute(opts.out);
say = @(varargin) fprintf('[demo] %s\n', sprintf(varargin{:}));

caffe.set_mode_cpu();
sets = rll_demo_data(opts.data, opts.split, say);
say('%d training images of %d classes; evaluation sets: %s', numel(sets.train.labels), ...
    numel(unique(sets.train.labels)), strjoin(arrayfun(@(e) sprintf('%s (%d images)', e.name, ...
    numel(e.labels)), sets.eval, 'UniformOutput', false), ', '));

% The nets and the solver, with the chosen semantics, embedding size, recipe and seed.
dim_text = @(t) regexprep(t, '(name: "embedding"[^}]*?num_output:) \d+', sprintf('$1 %d', opts.dim));
% P x K = (classes, up to 5) x 12: every batch holds every training class, as with the five seen classes.
P = min(5, numel(unique(sets.train.labels)));
K = 12;
net_text = strrep(fileread(fullfile(repo, 'prototxt', 'fashion_mnist', 'train.prototxt')), ...
                  'semantics: PAPER', ['semantics: ' opts.semantics]);
net_text = regexprep(net_text, 'dim: 60\>', sprintf('dim: %d', P * K));
write_text(fullfile(out, 'train.prototxt'), dim_text(net_text));
write_text(fullfile(out, 'deploy.prototxt'), ...
           dim_text(fileread(fullfile(repo, 'prototxt', 'fashion_mnist', 'deploy.prototxt'))));
solver_text = fileread(fullfile(repo, 'prototxt', 'fashion_mnist', 'solver.prototxt'));
solver_text = regexprep(solver_text, 'max_iter: \d+', sprintf('max_iter: %d', opts.iters));
solver_text = regexprep(solver_text, 'base_lr: [0-9.eE+-]+', sprintf('base_lr: %g', opts.base_lr));
solver_text = regexprep(solver_text, 'random_seed: \d+', sprintf('random_seed: %d', opts.seed));
solver_text = regexprep(solver_text, 'lr_policy: "\w+"', sprintf('lr_policy: "%s"', opts.lr_policy));
write_text(fullfile(out, 'solver.prototxt'), solver_text);

old = cd(out);
restore = onCleanup(@() cd(old));
say('training %d iterations, P x K = %d x %d, semantics %s, seed %d, base_lr %g (%s), shift %d, dim %d', ...
    opts.iters, P, K, opts.semantics, opts.seed, opts.base_lr, opts.lr_policy, opts.shift, opts.dim);
topts = struct('solver_file', 'solver.prototxt', 'images', sets.train.images, ...
               'class_ids', sets.train.labels + 1, 'P', P, 'K', K, 'iters', opts.iters, ...
               'output_interval', max(1, round(opts.iters / 20)), 'save_interval', max(1, round(opts.iters / 4)), ...
               'out_dir', out, 'seed', opts.seed, 'loss_blobs', {{'loss'}}, ...
               'initial_weights_file', fullfile(out, 'untrained.caffemodel'));
if opts.shift > 0
  seed = opts.seed;
  shift = opts.shift;
  topts.preprocess = @(batch, iter) rll_augment(batch, seed * 1e6 + iter, shift);
end
history = rll_train(topts);
history.net.save(fullfile(out, 'trained.caffemodel'));

say('evaluating raw pixels, the untrained and the trained network');
ks = [1 2 4 8];
models = {'raw', 'raw pixels'; 'untrained', 'untrained network'; 'trained', 'trained network'};
untrained = caffe.Net(fullfile(out, 'deploy.prototxt'), fullfile(out, 'untrained.caffemodel'), 'test');
trained = caffe.Net(fullfile(out, 'deploy.prototxt'), fullfile(out, 'trained.caffemodel'), 'test');
extractors = {'raw', @(images) reshape(images, [], size(images, 4)); ...
              'untrained', @(images) rll_extract_features(untrained, images, 500, 'embedding'); ...
              'trained', @(images) rll_extract_features(trained, images, 500, 'embedding')};
[table, features] = rll_evaluate_protocols(sets.eval, extractors, ks, opts.seed);
results = struct('semantics', opts.semantics, 'data', opts.data, 'split', opts.split, 'seed', opts.seed, ...
                 'iterations', opts.iters, 'base_lr', opts.base_lr, 'lr_policy', opts.lr_policy, ...
                 'shift', opts.shift, 'dim', opts.dim, 'train_seconds', history.seconds);
caffe.reset_all();

% Report: the table, the Recall log, results.json (the unseen protocol's rows at the top level, as before),
% the plot.
fprintf('\n%-22s %7s %7s %7s %7s %7s\n', 'features', 'R@1', 'R@2', 'R@4', 'R@8', 'NMI');
for e = sets.eval
  fprintf('%s (%d images)\n', e.description, numel(e.labels));
  for m = 1:size(models, 1)
    r = table.(e.name).(models{m, 1});
    fprintf('  %-20s %7.4f %7.4f %7.4f %7.4f %7.4f\n', models{m, 2}, r.recall, r.nmi);
    rll_log_results(fullfile(out, 'Recall_demo.txt'), opts.iters, [e.name ' ' models{m, 2}], r);
  end
  for m = 1:size(models, 1)
    j.(models{m, 1}) = as_json(table.(e.name).(models{m, 1}));
  end
  if strcmp(e.name, 'unseen')
    for m = 1:size(models, 1), results.(models{m, 1}) = j.(models{m, 1}); end
  else
    results.(e.name) = j;
  end
end
write_text(fullfile(out, 'results.json'), jsonencode(results));
if opts.plot
  rll_demo_plot(fullfile(out, 'rll_demo.png'), history, sets.eval, features, table, opts);
  say('wrote %s/results.json and %s/rll_demo.png (%.0f s of training)', out, out, history.seconds);
else
  say('wrote %s/results.json (%.0f s of training)', out, history.seconds);
end
for e = sets.eval
  r = table.(e.name);
  if r.trained.recall(1) <= max(r.raw.recall(1), r.untrained.recall(1))
    say('note: on the %s, the trained network does not beat both baselines at Recall@1', e.description);
  end
end
end

function j = as_json(r)
j = struct('recall_at_1', r.recall(r.ks == 1), 'recall_at_2', r.recall(r.ks == 2), ...
           'recall_at_4', r.recall(r.ks == 4), 'recall_at_8', r.recall(r.ks == 8), 'nmi', r.nmi);
end

function write_text(path, text)
fid = fopen(path, 'w');
if fid < 0, error('rll_demo: cannot write %s', path); end
fprintf(fid, '%s', text);
fclose(fid);
end

function p = absolute(p)
if ~(numel(p) > 0 && p(1) == filesep)
  p = fullfile(pwd, p);
end
end
