function info = rll_prepare_cars(root, out)
% info = rll_prepare_cars(root, out)
%   Cars196 from its standard folder (root/cars_annos.mat with annotations(i).relative_im_path and .class,
%   images under root/car_ims): train on classes 1-98, test on 99-196. Writes out/train.txt and out/test.txt.
annos_file = fullfile(root, 'cars_annos.mat');
if ~exist(annos_file, 'file'), error('rll_prepare_cars: %s not found', annos_file); end
s = load(annos_file);
a = s.annotations;
files = arrayfun(@(x) fullfile(root, x.relative_im_path), a(:), 'UniformOutput', false);
classes = double([a.class]');
info = rll_split_by_class(files, classes, classes <= 98, out);
end
