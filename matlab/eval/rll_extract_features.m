function features = rll_extract_features(net, images, batch, blob_name, input_name)
% features = rll_extract_features(net, images, batch, blob_name, input_name)
%   Runs a deploy net over images (W x H x C x N, matcaffe order) in batches and returns blob_name's output,
%   one column per image (D x N). The last batch is padded by repeating its last image.

if nargin < 3 || isempty(batch), batch = 128; end
if nargin < 4 || isempty(blob_name), blob_name = 'pool5/7x7_s1'; end
if nargin < 5 || isempty(input_name), input_name = 'data'; end
n = size(images, 4);
sz = size(images);
sz(end + 1:4) = 1;
net.blobs(input_name).reshape([sz(1:3), batch]);
net.reshape();
features = [];
for s = 1:batch:n
  idx = s:min(n, s + batch - 1);
  chunk = images(:, :, :, [idx, repmat(idx(end), 1, batch - numel(idx))]);
  net.blobs(input_name).set_data(single(chunk));
  net.forward_prefilled();
  out = net.blobs(blob_name).get_data();
  out = reshape(out, [], batch);
  if isempty(features)
    features = zeros(size(out, 1), n, 'single');
  end
  features(:, idx) = out(:, 1:numel(idx));
end
end
