#!/usr/bin/env python3
"""float16 at the paper's settings (T_n = 10, α = 1.2), one batch, pytorch-metric-learning 2.9 beside ours
(docs/pytorch.md): a negative 0.02 from its query gives PML a weight exp(10 (1.2 − 0.02)) ≈ 1.3e5, past float16's
65504, and its loss and gradient are NaN; ours computes in float32 with shifted exponents and returns finite
float16 values, the rounded float32 result. Run: python examples/torch_half_precision.py"""

import warnings

import ranked_list_loss as rll
import torch
import torch.nn.functional as F
from pytorch_metric_learning.losses import RankedListLoss as PmlLoss

warnings.filterwarnings("ignore", message="Values of Tp or Tn are too high")
torch.manual_seed(0)
x = F.normalize(torch.randn(12, 8), dim=1)
labels = torch.arange(12) % 3
x[1] = F.normalize(x[0] + 0.02 * F.normalize(torch.randn(8), dim=0), dim=0)  # class 1, 0.02 from row 0 (class 0)
xh = x.half()
print(f"closest negative pair: d = {torch.dist(xh[0].float(), xh[1].float()):.4f}")
for name, crit in (("pytorch-metric-learning", PmlLoss(margin=0.4, Tn=10, alpha=1.2)),
                   ("ranked_list_loss.pml", rll.pml.RankedListLoss(margin=0.4, Tn=10, alpha=1.2))):
    e = xh.clone().requires_grad_(True)
    loss = crit(e, labels)
    loss.backward()
    print(f"{name:<24} float16 loss {loss.item():.6g}, gradient finite: {bool(torch.isfinite(e.grad).all())}")
e = x.clone().requires_grad_(True)
print(f"{'ranked_list_loss.pml':<24} float32 loss {rll.pml.RankedListLoss(margin=0.4, Tn=10, alpha=1.2)(e, labels).item():.6g}")
