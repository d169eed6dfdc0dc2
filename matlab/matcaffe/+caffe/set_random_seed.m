function set_random_seed(seed)
% set_random_seed(seed)
%   Seed Caffe's random number generators (fillers, dropout, data shuffling), as CaffeMex's
%   caffe.set_random_seed: call it before get_solver/get_net for reproducible initial weights.
%   (ranked-list-loss: CaffeMex compatibility, installed by caffe_patch/apply --matcaffe)

CHECK(isnumeric(seed) && isscalar(seed) && seed >= 0, 'seed must be a non-negative scalar');
caffe_('set_random_seed', double(seed));

end
