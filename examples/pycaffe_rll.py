import numpy as np, caffe
from caffe import layers as L, params as P
n = caffe.NetSpec()  # 60 samples of 32 features, 5 classes x 12: a P x K batch
n.data, n.label = L.Input(shape=[dict(dim=[60, 32]), dict(dim=[60])], ntop=2)
n.emb = L.InnerProduct(n.data, num_output=16, weight_filler=dict(type="xavier"))
n.norm = L.Normalization(n.emb)
n.loss = L.RankedListLoss(n.norm, n.label, ranked_list_loss_param=dict(
    margin=0.4, alpha=1.2, t_n=10, semantics=P.RankedListLoss.PAPER))
open("rll_net.prototxt", "w").write(str(n.to_proto()))
open("rll_solver.prototxt", "w").write('net: "rll_net.prototxt" base_lr: 0.05 momentum: 0.9 lr_policy: "fixed"')
solver, rng = caffe.SGDSolver("rll_solver.prototxt"), np.random.default_rng(0)
centres, labels = rng.normal(size=(5, 32)), np.repeat(np.arange(5), 12)
for it in range(101):
    solver.net.blobs["data"].data[...] = centres[labels] + rng.normal(size=(60, 32))
    solver.net.blobs["label"].data[...] = labels
    solver.step(1)
    if it % 20 == 0: print(f"iter {it:3d}  loss {float(solver.net.blobs['loss'].data):.4f}")
