function init_log(log_prefix)
% init_log(log_prefix)
%   Write Caffe's INFO log to files starting with log_prefix (CaffeMex's caffe.init_log), e.g.
%   caffe.init_log('log/train_') writes log/train_<date>.<pid>. The folder is created if needed.
%   (ranked-list-loss: CaffeMex compatibility, installed by caffe_patch/apply --matcaffe)

CHECK(ischar(log_prefix), 'log_prefix must be a string');
folder = fileparts(log_prefix);
if ~isempty(folder) && ~exist(folder, 'dir')
  mkdir(folder);
end
caffe_('init_log', log_prefix);

end
