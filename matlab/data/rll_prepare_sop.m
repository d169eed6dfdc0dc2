function info = rll_prepare_sop(root, out)
% info = rll_prepare_sop(root, out)
%   Stanford Online Products from its standard folder (root/Ebay_train.txt, root/Ebay_test.txt with the header
%   "image_id class_id super_class_id path"): 11,318 training and 11,316 test products. Writes out/train.txt and
%   out/test.txt.
if ~exist(out, 'dir'), mkdir(out); end
info = struct();
for split = {'train', 'test'}
  path = fullfile(root, sprintf('Ebay_%s.txt', split{1}));
  fid = fopen(path, 'r');
  if fid < 0, error('rll_prepare_sop: %s not found', path); end
  c = textscan(fid, '%d %d %d %s', 'HeaderLines', 1);
  fclose(fid);
  files = cellfun(@(p) fullfile(root, p), c{4}, 'UniformOutput', false);
  rll_write_list(fullfile(out, [split{1} '.txt']), files, rll_rebase(double(c{2})));
  info.([split{1} '_images']) = numel(files);
  info.([split{1} '_classes']) = numel(unique(c{2}));
end
end
