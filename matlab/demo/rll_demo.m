function results = rll_demo(opts)
% results = rll_demo(opts)
%   The main job (make demo): trains a small convnet with RankedListLoss through matcaffe in the zero-shot
%   protocol of metric learning (train on classes 0-4, retrieve among the unseen classes 5-9 of the test set) and
%   compares Recall@1/2/4/8 and NMI of raw pixels, the untrained network and the trained network.
%   Writes to opts.out: results.json, rll_demo.png (loss curve and a 2-D projection of the test embeddings),
%   Recall_demo.txt, the checkpoints and the nets.
% Fields of opts: semantics ['PAPER' | 'OFFICIAL_V2020' | 'OFFICIAL_V2019'], data ['fashion-mnist' or a folder
%   prepared by matlab/data/rll_prepare_*], iters [2000], out ['demo_out'], seed [0], base_lr [the solver's].

here = fileparts(mfilename('fullpath'));
repo = fileparts(fileparts(here));
defaults = struct('semantics', 'PAPER', 'data', 'fashion-mnist', 'iters', 2000, 'out', 'demo_out', 'seed', 0, ...
                  'base_lr', []);
for f = fieldnames(defaults)'
  if ~isfield(opts, f{1}) || isempty(opts.(f{1})), opts.(f{1}) = defaults.(f{1}); end
end
if ~any(strcmp(opts.semantics, {'PAPER', 'OFFICIAL_V2020', 'OFFICIAL_V2019'}))
  error('rll_demo: SEMANTICS=%s is not one of PAPER, OFFICIAL_V2020, OFFICIAL_V2019', opts.semantics);
end
if ~exist(opts.out, 'dir'), mkdir(opts.out); end
out = absolute(opts.out);
say = @(varargin) fprintf('[demo] %s\n', sprintf(varargin{:}));

caffe.set_mode_cpu();
[train, test] = load_data(opts.data, say);
say('%d training images of %d classes; %d test images of %d unseen classes', numel(train.labels), ...
    numel(unique(train.labels)), numel(test.labels), numel(unique(test.labels)));

% The nets, with the chosen semantics.
net_text = strrep(fileread(fullfile(repo, 'prototxt', 'fashion_mnist', 'train.prototxt')), ...
                  'semantics: PAPER', ['semantics: ' opts.semantics]);
write_text(fullfile(out, 'train.prototxt'), net_text);
copyfile(fullfile(repo, 'prototxt', 'fashion_mnist', 'deploy.prototxt'), fullfile(out, 'deploy.prototxt'));
solver_text = regexprep(fileread(fullfile(repo, 'prototxt', 'fashion_mnist', 'solver.prototxt')), ...
                        'max_iter: \d+', sprintf('max_iter: %d', opts.iters));
if ~isempty(opts.base_lr)
  solver_text = regexprep(solver_text, 'base_lr: [0-9.eE+-]+', sprintf('base_lr: %g', opts.base_lr));
end
write_text(fullfile(out, 'solver.prototxt'), solver_text);

ks = [1 2 4 8];
rows = {};
say('evaluating raw pixels');
raw = rll_evaluate(reshape(test.images, [], numel(test.labels)), test.labels, ks, opts.seed + 1);
rows(end + 1, :) = {'raw pixels', raw};

old = cd(out);
restore = onCleanup(@() cd(old));
say('training %d iterations, P x K = 5 x 12, semantics %s', opts.iters, opts.semantics);
topts = struct('solver_file', 'solver.prototxt', 'images', train.images, 'class_ids', train.labels + 1, ...
               'P', 5, 'K', 12, 'iters', opts.iters, 'output_interval', max(1, round(opts.iters / 20)), ...
               'save_interval', max(1, round(opts.iters / 4)), 'out_dir', out, 'seed', opts.seed, ...
               'loss_blobs', {{'loss'}}, 'initial_weights_file', fullfile(out, 'untrained.caffemodel'));
history = rll_train(topts);
history.net.save(fullfile(out, 'trained.caffemodel'));

say('evaluating the untrained and the trained network');
for name = {'untrained', 'trained'}
  net = caffe.Net(fullfile(out, 'deploy.prototxt'), fullfile(out, [name{1} '.caffemodel']), 'test');
  feats = rll_extract_features(net, test.images, 500, 'embedding');
  rows(end + 1, :) = {[name{1} ' network'], rll_evaluate(feats, test.labels, ks, opts.seed + 1)};
  if strcmp(name{1}, 'trained'), trained_features = feats; end
end
caffe.reset_all();

% Report: table, Recall log, results.json, plot.
fprintf('\n%-20s %7s %7s %7s %7s %7s\n', 'features', 'R@1', 'R@2', 'R@4', 'R@8', 'NMI');
for i = 1:size(rows, 1)
  r = rows{i, 2};
  fprintf('%-20s %7.4f %7.4f %7.4f %7.4f %7.4f\n', rows{i, 1}, r.recall, r.nmi);
  rll_log_results(fullfile(out, 'Recall_demo.txt'), opts.iters, rows{i, 1}, r);
end
results = struct('semantics', opts.semantics, 'data', opts.data, 'iterations', opts.iters, ...
                 'train_seconds', history.seconds, 'raw', as_json(rows{1, 2}), ...
                 'untrained', as_json(rows{2, 2}), 'trained', as_json(rows{3, 2}));
write_text(fullfile(out, 'results.json'), jsonencode(results));
plot_results(fullfile(out, 'rll_demo.png'), history, trained_features, test.labels, opts);
say('wrote %s/results.json and %s/rll_demo.png (%.0f s of training)', out, out, history.seconds);
if rows{3, 2}.recall(1) <= max(rows{1, 2}.recall(1), rows{2, 2}.recall(1))
  say('note: the trained network does not beat both baselines at Recall@1 here');
end
end

function [train, test] = load_data(data, say)
if strcmp(data, 'fashion-mnist')
  d = rll_load_fashion_mnist();
  keep = d.train.labels <= 4;        % seen classes for training
  train.images = d.train.images(:, :, :, keep);
  train.labels = d.train.labels(keep);
  keep = d.test.labels >= 5;         % unseen classes for retrieval
  test.images = d.test.images(:, :, :, keep);
  test.labels = d.test.labels(keep);
else
  say('loading the prepared data set in %s (images resized to 28 x 28 grey for this small net)', data);
  [train.images, train.labels] = rll_load_image_list(fullfile(data, 'train.txt'), [28 28], true);
  [test.images, test.labels] = rll_load_image_list(fullfile(data, 'test.txt'), [28 28], true);
  train.labels = train.labels - 1;
  test.labels = test.labels - 1;
end
end

function j = as_json(r)
j = struct('recall_at_1', r.recall(r.ks == 1), 'recall_at_2', r.recall(r.ks == 2), ...
           'recall_at_4', r.recall(r.ks == 4), 'recall_at_8', r.recall(r.ks == 8), 'nmi', r.nmi);
end

function plot_results(path, history, features, labels, opts)
if exist('OCTAVE_VERSION', 'builtin')
  warning('off', 'Octave:gnuplot-graphics');  % headless: gnuplot is the toolkit that prints without a display
  graphics_toolkit('gnuplot');
end
h = figure('visible', 'off', 'position', [0 0 1100 450]);
subplot(1, 2, 1);
loss = history.loss(:, 1);
w = max(1, round(numel(loss) / 50));
smooth = filter(ones(w, 1) / w, 1, loss);
plot(history.iter, loss, 'color', [0.75 0.75 0.75]);
hold on;
plot(history.iter(w:end), smooth(w:end), 'b', 'linewidth', 2);
xlabel('iteration');
ylabel('RankedListLoss');
title(sprintf('training loss (%s), moving average of %d', strrep(opts.semantics, '_', ' '), w));
subplot(1, 2, 2);
x = rll_l2_normalise(double(features));
x = bsxfun(@minus, x, mean(x, 2));
[u, ~, ~] = svd(x * x');
p = u(:, 1:2)' * x;
pick = 1:max(1, floor(numel(labels) / 2000)):numel(labels);
names = {'T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'};
classes = unique(labels(:))';
colours = lines(numel(classes));
hold on;
for c = 1:numel(classes)
  sel = pick(labels(pick) == classes(c));
  plot(p(1, sel), p(2, sel), '.', 'color', colours(c, :), 'markersize', 8);
end
if strcmp(opts.data, 'fashion-mnist')
  legend(names(classes + 1), 'location', 'eastoutside');
end
title('unseen test classes: trained embeddings, first two principal components');
print(h, path, '-dpng', '-r90');
close(h);
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
