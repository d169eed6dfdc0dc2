function sets = rll_demo_data(data, split, say)
% sets = rll_demo_data(data, split, say)
%   The demo's images, as matcaffe wants them (W x H x C x N single) with 0-based labels.
%   split 'test' (the reported protocol): sets.train = every training image of the seen classes 0-4;
%     sets.eval(1) 'seen'   = the test images of the seen classes (new images of known classes),
%     sets.eval(2) 'unseen' = the test images of the unseen classes 5-9 (the paper's zero-shot protocol).
%   Validation splits, for choosing the recipe (no test image is read; the draws are fixed, the same for every seed):
%   'validation': 1000 training images of each seen class are held out as sets.eval(1) 'validation' (new images
%     of known classes); sets.train is the rest.
%   'classes1', 'classes2': two of the seen classes are held out whole, as the unseen classes are in the test
%     protocol: sets.train = the training images of the other three, sets.eval(1) 'heldout' = 1000 training
%     images of each held-out class. classes1 holds out Pullover and Coat (2, 4), classes2 T-shirt and Dress (0, 3).
%   data: 'fashion-mnist', or a folder prepared by matlab/data/rll_prepare_* (train.txt: seen classes,
%     test.txt: unseen classes; only the unseen protocol, images resized to 28 x 28 grey).

if strcmp(data, 'fashion-mnist')
  d = rll_load_fashion_mnist();
  seen = d.train.labels <= 4;
  train = subset(d.train, seen);
  switch split
    case 'test'
      sets.train = train;
      sets.eval = [named(subset(d.test, d.test.labels <= 4), 'seen', 'test images of the seen classes 0-4'), ...
                   named(subset(d.test, d.test.labels >= 5), 'unseen', 'test images of the unseen classes 5-9')];
    case 'validation'
      held = draw(train.labels, 0:4, 1000, 20191);
      sets.train = subset(train, ~held);
      sets.eval = named(subset(train, held), 'validation', ...
                        'held-out training images of the seen classes 0-4');
    case {'classes1', 'classes2'}
      out = {[2 4], [0 3]};
      out = out{str2double(split(end))};
      keep = draw(train.labels, out, 1000, 20192);
      sets.train = subset(train, ~ismember(train.labels, out));
      sets.eval = named(subset(train, keep), 'heldout', ...
                        sprintf('training images of the held-out seen classes %d and %d', out));
    otherwise
      error('rll_demo: SPLIT=%s is not test, validation, classes1 or classes2', split);
  end
else
  if ~strcmp(split, 'test')
    error('rll_demo: SPLIT=validation needs DATA=fashion-mnist');
  end
  say('loading the prepared data set in %s (images resized to 28 x 28 grey for this small net)', data);
  [sets.train.images, sets.train.labels] = rll_load_image_list(fullfile(data, 'train.txt'), [28 28], true);
  [test.images, test.labels] = rll_load_image_list(fullfile(data, 'test.txt'), [28 28], true);
  sets.train.labels = sets.train.labels - 1;
  test.labels = test.labels - 1;
  sets.eval = named(test, 'unseen', 'images of the unseen classes');
end
end

function pick = draw(labels, classes, count, seed)
% count images of each class, drawn from a private stream with a fixed seed: the split must not move with SEED.
pick = false(numel(labels), 1);
prev = rll_rng_state(seed);
for c = classes
  members = find(labels == c);
  pick(members(randperm(numel(members), count))) = true;
end
rll_rng_state(prev);
end

function s = subset(d, keep)
s.images = d.images(:, :, :, keep);
s.labels = d.labels(keep);
end

function s = named(s, name, description)
s = struct('name', name, 'description', description, 'images', s.images, 'labels', s.labels);
end
