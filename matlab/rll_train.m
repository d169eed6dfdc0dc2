function history = rll_train(opts)
% history = rll_train(opts)
%   Trains a net with P x K batches through matcaffe, as the original RLL scripts (docs/octave.md): the sampler fills
%   the 'data' and 'label' input blobs, then solver.step(1); a progress line every opts.output_interval
%   iterations (iteration, each loss top, images/s, time left); a checkpoint every opts.save_interval
%   (out_dir/checkpoint_iter_<iter>.caffemodel and .solverstate, written by Caffe, plus the sampler and the loss
%   history in checkpoint_iter_<iter>.mat); opts.resume continues from the latest checkpoint in out_dir.
%
% Fields of opts (defaults in brackets):
%   solver_file      the solver prototxt (its net must have inputs 'data' N x C x H x W and 'label' N)
%   images           W x H x C x M single array, matcaffe order; or opts.load_batch = @(idx) images
%   class_ids        M x 1 positive class ids
%   P, K             classes per batch and images per class [P*K must equal the data blob's N]
%   iters            iterations to train [solver max_iter]
%   output_interval [20]  save_interval [0: never]  out_dir ['rll_train_out']  resume [false]  seed [123]
%   weights          a .caffemodel to start from (CaffeMex's use_caffemodel) ['']
%   initial_weights_file   where to save the weights before the first step (e.g. an "untrained" baseline) ['']
%   loss_blobs       the tops to report [every net output]
%   preprocess       @(batch) or @(batch, iter) -> batch, applied to each batch (augmentation; iter, the
%                    iteration the batch is for, lets it draw reproducibly and resume exactly) [none]
%   log              a function handle for progress lines [@(s) fprintf('%s\n', s)]

opts = fill_defaults(opts);
if ~exist(opts.out_dir, 'dir'), mkdir(opts.out_dir); end
solver_file = with_snapshots(opts);

caffe.set_random_seed(opts.seed);
solver = caffe.get_solver(solver_file);
net = solver.nets{1};
if ~isempty(opts.weights), solver.use_caffemodel(opts.weights); end
batch_shape = net.blobs('data').shape();
if batch_shape(end) ~= opts.P * opts.K
  error('rll_train: the data blob holds %d images but P x K = %d x %d', batch_shape(end), opts.P, opts.K);
end
if isempty(opts.loss_blobs), opts.loss_blobs = net.outputs; end
if ~isempty(opts.initial_weights_file) && ~opts.resume, net.save(opts.initial_weights_file); end

sampler = rll_sampler(opts.class_ids, opts.P, opts.K, opts.seed);
history.iter = [];
history.loss = zeros(0, numel(opts.loss_blobs));
history.loss_names = opts.loss_blobs;
if opts.resume
  [sampler, history] = resume(solver, opts, sampler, history);
end

start_iter = solver.iter();
t0 = tic;
while solver.iter() < opts.iters
  [idx, labels, sampler] = rll_next_batch(sampler);
  batch = opts.load_batch(idx);
  if ~isempty(opts.preprocess)
    if nargin(opts.preprocess) >= 2
      batch = opts.preprocess(batch, solver.iter() + 1);
    else
      batch = opts.preprocess(batch);
    end
  end
  net.blobs('data').set_data(single(batch));
  net.blobs('label').set_data(reshape(labels, size_of_blob(net, 'label')));
  solver.step(1);
  it = solver.iter();
  values = cellfun(@(b) double(sum(reshape(net.blobs(b).get_data(), [], 1))), opts.loss_blobs);
  history.iter(end + 1, 1) = it;
  history.loss(end + 1, :) = values;
  if mod(it, opts.output_interval) == 0 || it == opts.iters
    elapsed = toc(t0);
    rate = (it - start_iter) * opts.P * opts.K / max(elapsed, eps);
    left = (opts.iters - it) * elapsed / max(it - start_iter, 1);
    parts = cellfun(@(n, v) sprintf('%s %.4f', n, v), opts.loss_blobs, num2cell(values), 'UniformOutput', false);
    opts.log(sprintf('iter %*d/%d  %s  %.0f img/s  %s left', numel(num2str(opts.iters)), it, opts.iters, ...
                     strjoin(parts, '  '), rate, rll_format_time(left)));
  end
  if opts.save_interval > 0 && mod(it, opts.save_interval) == 0
    save(fullfile(opts.out_dir, sprintf('checkpoint_iter_%d.mat', it)), 'sampler', 'history', '-v7');
  end
end
history.seconds = toc(t0);
history.net = net;
history.solver = solver;
end

function opts = fill_defaults(opts)
defaults = struct('output_interval', 20, 'save_interval', 0, 'out_dir', 'rll_train_out', 'resume', false, ...
                  'seed', 123, 'weights', '', 'loss_blobs', {{}}, 'preprocess', [], 'iters', [], ...
                  'log', @(s) fprintf('%s\n', s), 'images', [], 'load_batch', [], 'initial_weights_file', '');
names = fieldnames(defaults);
for i = 1:numel(names)
  if ~isfield(opts, names{i}), opts.(names{i}) = defaults.(names{i}); end
end
for f = {'solver_file', 'class_ids', 'P', 'K'}
  if ~isfield(opts, f{1}), error('rll_train: opts.%s is required', f{1}); end
end
if isempty(opts.load_batch)
  if isempty(opts.images), error('rll_train: give opts.images or opts.load_batch'); end
  images = opts.images;
  opts.load_batch = @(idx) images(:, :, :, idx);
end
if isempty(opts.iters)
  opts.iters = solver_field(opts.solver_file, 'max_iter');
end
end

function path = with_snapshots(opts)
% A copy of the solver whose snapshots (weights and solver state) land in out_dir every save_interval.
text = fileread(opts.solver_file);
newline = char(10);
lines = strsplit(text, newline);
keep = cellfun(@(l) isempty(regexp(l, '^\s*snapshot(_prefix)?\s*:', 'once')), lines);
text = strjoin(lines(keep), newline);
if opts.save_interval > 0
  text = sprintf('%s\nsnapshot: %d\nsnapshot_prefix: "%s"\n', text, opts.save_interval, ...
                 fullfile(opts.out_dir, 'checkpoint'));
end
path = fullfile(opts.out_dir, 'solver.prototxt');
fid = fopen(path, 'w');
fprintf(fid, '%s', text);
fclose(fid);
end

function [sampler, history] = resume(solver, opts, sampler, history)
files = dir(fullfile(opts.out_dir, 'checkpoint_iter_*.solverstate'));
if isempty(files)
  opts.log('rll_train: no checkpoint to resume from; starting at iteration 0');
  return
end
its = cellfun(@(n) sscanf(n, 'checkpoint_iter_%d.solverstate'), {files.name});
[last, i] = max(its);
state = fullfile(opts.out_dir, sprintf('checkpoint_iter_%d.mat', last));
if ~exist(state, 'file')
  error('rll_train: %s has no matching %s', files(i).name, state);
end
solver.restore(fullfile(opts.out_dir, files(i).name));
saved = load(state);
sampler = saved.sampler;
history = saved.history;
opts.log(sprintf('rll_train: resumed from iteration %d', last));
end

function sz = size_of_blob(net, name)
shape = net.blobs(name).shape();
sz = [shape, ones(1, 2 - numel(shape))];
end

function v = solver_field(file, name)
tok = regexp(fileread(file), ['(?m)^\s*' name '\s*:\s*([0-9.eE+-]+)'], 'tokens', 'once');
if isempty(tok), error('rll_train: %s has no %s; set opts.iters', file, name); end
v = str2double(tok{1});
end
