function test_training()
% A short rll_train run on generated data: the loss falls; checkpoints are written; a resumed run continues
% from the last checkpoint with the same solver iteration and the sampler's state.
[solver_file, dir] = small_net(12, 6, 80);
prev = rll_rng_state(3);
centres = randn(6, 8) * 2;
class_ids = repelem((1:8)', 12);
x = centres(:, class_ids) + 0.5 * randn(6, numel(class_ids));
rll_rng_state(prev);
images = reshape(single(x), 6, 1, 1, []);   % matcaffe order of a (batch x 6) blob: 6 x batch
opts = struct('solver_file', solver_file, 'load_batch', @(idx) reshape(x(:, idx), 6, []), ...
              'class_ids', class_ids, 'P', 4, 'K', 3, 'iters', 80, 'output_interval', 40, 'save_interval', 40, ...
              'out_dir', fullfile(dir, 'run'), 'log', @(s) []);
h = rll_train(opts);
check(numel(h.loss) == 80 && all(isfinite(h.loss)), 'one finite loss per iteration');
first = mean(h.loss(1:10));
last = mean(h.loss(end - 9:end));
check(last < 0.7 * first, 'loss should fall: first 10 %.4f, last 10 %.4f', first, last);
for f = {'checkpoint_iter_40.caffemodel', 'checkpoint_iter_40.solverstate', 'checkpoint_iter_40.mat', ...
         'checkpoint_iter_80.caffemodel'}
  check(exist(fullfile(dir, 'run', f{1}), 'file') == 2, '%s missing', f{1});
end
caffe.reset_all();
% Resume: remove the last checkpoint, continue from iteration 40 to 80.
delete(fullfile(dir, 'run', 'checkpoint_iter_80.*'));
opts.resume = true;
h2 = rll_train(opts);
check(h2.solver.iter() == 80, 'resumed run ends at iteration 80');
check(numel(h2.iter) == 80 && isequal(h2.iter(1:40), h.iter(1:40)), 'history continues the saved one');
check(max(abs(h2.loss(1:40) - h.loss(1:40))) == 0, 'the first 40 losses come from the checkpoint');
check(max(abs(h2.loss(41:end) - h.loss(41:end))) < 1e-4 * max(abs(h.loss)), ...
      'a resumed run repeats the uninterrupted one (solver state and sampler restored)');
end
