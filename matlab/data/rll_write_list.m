function rll_write_list(path, files, class_ids)
% rll_write_list(path, files, class_ids): an image-list file, one "<image path> <class id>" line per image.
fid = fopen(path, 'w');
if fid < 0, error('rll_write_list: cannot write %s', path); end
for i = 1:numel(files)
  fprintf(fid, '%s %d\n', files{i}, class_ids(i));
end
fclose(fid);
end
