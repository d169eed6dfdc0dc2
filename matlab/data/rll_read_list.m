function [files, class_ids] = rll_read_list(path)
% [files, class_ids] = rll_read_list(path): reads an image-list file written by rll_write_list.
fid = fopen(path, 'r');
if fid < 0, error('rll_read_list: cannot open %s', path); end
c = textscan(fid, '%s %d');
fclose(fid);
files = c{1};
class_ids = double(c{2});
end
