function test_caffemex_shim()
% The CaffeMex calls of the original scripts, on BVLC matcaffe: get_solver(file, gpu_ids), solver.nets{g},
% use_caffemodel, set_random_seed, init_log; several GPUs are refused with a message naming the limitation.
[solver_file, dir] = small_net(6, 4, 10);
try
  caffe.get_solver(solver_file, [0 1]);
  check(false, 'two GPUs must be refused');
catch err
  check(~isempty(strfind(err.message, '2 GPUs requested')) && ~isempty(strfind(err.message, 'P2PSync')), ...
        'message: %s', err.message);
end
caffe.set_random_seed(42);
a = caffe.get_solver(solver_file, 0);     % one GPU id: the CPU in this CPU_ONLY build
check(iscell(a.nets) && numel(a.nets) == 1, 'solver.nets is a cell of one net');
w_a = a.nets{1}.params('fc1', 1).get_data();
caffe.set_random_seed(42);
b = caffe.get_solver(solver_file);
check(isequal(w_a, b.net.params('fc1', 1).get_data()), 'same seed, same initial weights');
caffe.set_random_seed(7);
c = caffe.get_solver(solver_file);
check(~isequal(w_a, c.net.params('fc1', 1).get_data()), 'another seed, other weights');
% use_caffemodel copies weights into the solver's net.
a.nets{1}.save(fullfile(dir, 'a.caffemodel'));
c.use_caffemodel(fullfile(dir, 'a.caffemodel'));
check(isequal(w_a, c.nets{1}.params('fc1', 1).get_data()), 'use_caffemodel loads the weights');
% init_log creates the folder of its prefix and sends the log there.
caffe.init_log(fullfile(dir, 'log', 'train_'));
check(exist(fullfile(dir, 'log'), 'dir') == 7, 'init_log creates the log folder');
a.step(2);
check(a.iter() == 2, 'step works through the shimmed solver');
end
