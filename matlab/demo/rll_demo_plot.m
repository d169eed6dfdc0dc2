function rll_demo_plot(path, history, eval_sets, features, table, opts)
% rll_demo_plot(path, history, eval_sets, features, table, opts)
%   The demo's figure: the training loss, Recall@1 of each feature set in each protocol, and for each protocol
%   the test embeddings on their first two principal components, before (untrained) and after training.

if exist('OCTAVE_VERSION', 'builtin')
  warning('off', 'Octave:gnuplot-graphics');  % headless: gnuplot is the toolkit that prints without a display
  graphics_toolkit('gnuplot');
end
names = {'T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'};
cols = 1 + numel(eval_sets);
h = figure('visible', 'off', 'position', [0 0 420 * cols 760]);

subplot(2, cols, 1);
loss = history.loss(:, 1);
w = max(1, round(numel(loss) / 50));
smooth = filter(ones(w, 1) / w, 1, loss);
plot(history.iter, loss, 'color', [0.75 0.75 0.75]);
hold on;
plot(history.iter(w:end), smooth(w:end), 'b', 'linewidth', 2);
xlabel('iteration');
ylabel('RankedListLoss');
title(sprintf('training loss (%s, seed %d)', strrep(opts.semantics, '_', ' '), opts.seed));

subplot(2, cols, cols + 1);
models = {'raw', 'untrained', 'trained'};
r1 = zeros(numel(eval_sets), numel(models));
for e = 1:numel(eval_sets)
  for m = 1:numel(models)
    r1(e, m) = table.(eval_sets(e).name).(models{m}).recall(1);
  end
end
if size(r1, 1) == 1
  bar([r1; nan(1, numel(models))]);   % one protocol: one group of bars, not three groups of one
  xlim([0.5 1.5]);
else
  bar(r1);
end
set(gca, 'xtick', 1:numel(eval_sets), 'xticklabel', {eval_sets.name});
ylim([max(0, min(r1(:)) - 0.05), 1]);
legend({'raw pixels', 'untrained', 'trained'}, 'location', 'southoutside', 'orientation', 'horizontal');
ylabel('Recall at 1');
title('Recall at 1, by protocol');   % no @: gnuplot's enhanced text eats it

stages = {'untrained', 'trained'};
for e = 1:numel(eval_sets)
  set_e = eval_sets(e);
  % One projection per protocol and stage: the first two principal components of that stage's embeddings.
  for s = 1:2
    subplot(2, cols, (s - 1) * cols + 1 + e);
    x = rll_l2_normalise(double(features.(set_e.name).(stages{s})));
    x = bsxfun(@minus, x, mean(x, 2));
    [u, ~, ~] = svd(x * x');
    p = u(:, 1:2)' * x;
    pick = 1:max(1, floor(numel(set_e.labels) / 2000)):numel(set_e.labels);
    classes = unique(set_e.labels(:))';
    colours = lines(numel(classes));
    hold on;
    for c = 1:numel(classes)
      sel = pick(set_e.labels(pick) == classes(c));
      plot(p(1, sel), p(2, sel), '.', 'color', colours(c, :), 'markersize', 6);
    end
    if strcmp(opts.data, 'fashion-mnist') && s == 2
      legend(names(classes + 1), 'location', 'southoutside', 'orientation', 'horizontal');
    end
    title(sprintf('%s classes: %s network, Recall at 1 = %.3f', set_e.name, stages{s}, ...
                  table.(set_e.name).(stages{s}).recall(1)));
  end
end
print(h, path, '-dpng', '-r80');
close(h);
end
