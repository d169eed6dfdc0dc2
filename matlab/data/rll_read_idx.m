function data = rll_read_idx(path)
% data = rll_read_idx(path)
%   Reads an IDX file (the MNIST format; gzip-compressed if the name ends in .gz). Images come back as
%   cols x rows x count uint8 (matcaffe's W x H order), labels as a count x 1 uint8 vector.

if numel(path) > 3 && strcmp(path(end - 2:end), '.gz')
  tmp = tempname();
  mkdir(tmp);
  cleanup = onCleanup(@() rmdir(tmp, 's'));
  if exist('OCTAVE_VERSION', 'builtin')
    % Octave's gunzip decompresses next to the .gz and then moves the file: that needs a writable data folder and
    % races between two processes reading the same file. gzip -dc writes straight to our own folder.
    out = fullfile(tmp, 'data.idx');
    [status, msg] = system(sprintf('gzip -dc "%s" > "%s"', path, out));
    if status ~= 0, error('rll_read_idx: cannot decompress %s: %s', path, msg); end
    path = out;
  else
    files = gunzip(path, tmp);
    path = files{1};
  end
end
fid = fopen(path, 'r', 'ieee-be');
if fid < 0, error('rll_read_idx: cannot open %s', path); end
closer = onCleanup(@() fclose(fid));
magic = fread(fid, 1, 'uint32');
dims = fread(fid, mod(magic, 256), 'uint32')';
if floor(magic / 256) ~= 8
  error('rll_read_idx: %s is not an unsigned-byte IDX file (magic %d)', path, magic);
end
data = fread(fid, prod(dims), 'uint8=>uint8');
if numel(dims) == 1
  data = data(:);
else
  % IDX is row-major: reading column-major gives each image transposed, i.e. width first, as matcaffe wants.
  data = reshape(data, [fliplr(dims(2:end)), dims(1)]);
end
end
