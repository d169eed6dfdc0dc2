function solver = get_solver(solver_file, gpu_ids)
% solver = get_solver(solver_file) or get_solver(solver_file, gpu_ids)
%   Construct a Solver object from solver_file. The two-argument form is the CaffeMex one used by the original
%   RLL scripts: one GPU id selects that GPU (the CPU in a CPU_ONLY build, with one warning); several are refused,
%   since BVLC matcaffe runs one solver on one device (CaffeMex's multi-GPU P2PSync is not available).
%   The solver exposes solver.nets{1} (= solver.net) and solver.use_caffemodel(path) as CaffeMex did.
%   (ranked-list-loss: CaffeMex compatibility, installed by caffe_patch/apply --matcaffe)

CHECK(ischar(solver_file), 'solver_file must be a string');
CHECK_FILE_EXIST(solver_file);
if nargin == 2
  CHECK(isnumeric(gpu_ids), 'gpu_ids must be numeric');
  if numel(gpu_ids) > 1
    error(['caffe.get_solver: %d GPUs requested (gpu_ids = [%s]), but BVLC matcaffe runs one solver on one ' ...
           'device: CaffeMex''s multi-GPU training (P2PSync) is not available. Pass one GPU id, or [] for the CPU.'], ...
          numel(gpu_ids), num2str(gpu_ids(:)'));
  elseif numel(gpu_ids) == 1
    % In a CPU_ONLY build both stay on the CPU with one warning, as caffe.set_mode_gpu() does.
    caffe_('set_mode_gpu');
    caffe_('set_device', double(gpu_ids));
  end
end
pSolver = caffe_('get_solver', solver_file);
solver = caffe.Solver(pSolver);

end
