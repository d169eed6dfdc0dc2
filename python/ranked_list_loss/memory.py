"""``CrossBatchMemory``: a queue of the embeddings of recent batches (Wang et al., "Cross-Batch Memory for
Embedding Learning", CVPR 2020) that each batch's queries are ranked against, with pytorch-metric-learning's
contract: the batch is enqueued (detached) before the loss, each query's own copy in the queue is left out of its
list, ``enqueue_mask`` enqueues only the rows it marks (the others are the queries, and none of them has a copy),
``reset_queue()`` empties the queue. The queue, its position and whether it has wrapped are buffers, so a state
dict resumes a run where it stopped. With a ``distributed=True`` loss every rank enqueues the global batch (the
ranks' batches in rank order), so the queues stay identical, and ranks its own queries against it (docs/memory.md).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ._ops import exact_labels
from ._params import LossParams
from .distributed import _comm_device, _gather_padded, _share_status, world
from .references import references_loss


class CrossBatchMemory(nn.Module):
    """``CrossBatchMemory(loss, embedding_size, memory_size=1024)``: ``loss`` is an ``rll.RankedListLoss`` or
    ``rll.pml.RankedListLoss`` (its ``params`` are used); ``memory(embeddings, labels, enqueue_mask=None)``
    returns the loss of the queries against the queue. With ``loss.distributed`` (enqueue_mask not supported
    there) the value is the single-process memory loss of the ranks' concatenated batches on every rank and the
    gradient world_size times its local rows, as for ``distributed=True`` (docs/distributed.md)."""

    def __init__(self, loss: nn.Module, embedding_size: int, memory_size: int = 1024) -> None:
        super().__init__()
        params = getattr(loss, "params", None)
        if not isinstance(params, LossParams):
            raise TypeError(f"CrossBatchMemory: loss = {type(loss).__name__}: an rll.RankedListLoss or "
                            "rll.pml.RankedListLoss expected")
        self.distributed = bool(getattr(loss, "distributed", False))
        self.process_group = getattr(loss, "process_group", None)
        reducer = getattr(loss, "reducer", None)
        if reducer is not None and type(reducer).__name__ != "MeanReducer":
            raise ValueError(f"CrossBatchMemory: reducer = {type(reducer).__name__}: the mean only")
        if memory_size < 1 or embedding_size < 1:
            raise ValueError(f"CrossBatchMemory: memory_size = {memory_size} and embedding_size = {embedding_size} "
                             "must be positive")
        self.loss, self.embedding_size, self.memory_size = loss, embedding_size, memory_size
        self.reduction = getattr(loss, "reduction", "mean")
        self.register_buffer("embedding_memory", torch.zeros(memory_size, embedding_size))
        self.register_buffer("label_memory", torch.zeros(memory_size, dtype=torch.int64))
        self.register_buffer("queue_idx", torch.zeros((), dtype=torch.int64))
        self.register_buffer("has_been_filled", torch.zeros((), dtype=torch.bool))
        # Host copies of the two, so that a call on CUDA never reads them back (the buffers are for state dicts).
        self._position, self._filled = 0, False

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._position, self._filled = int(self.queue_idx), bool(self.has_been_filled)

    def reset_queue(self) -> None:
        """Empties the queue."""
        self.embedding_memory.zero_()
        self.label_memory.zero_()
        self.queue_idx.zero_()
        self.has_been_filled.zero_()
        self._position, self._filled = 0, False

    def forward(self, embeddings: Tensor, labels: Tensor, enqueue_mask: Tensor | None = None) -> Tensor:
        if embeddings.dim() != 2 or embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"CrossBatchMemory: embeddings {tuple(embeddings.shape)}: (N, {self.embedding_size}) "
                             "expected")
        labels = labels.to(embeddings.device)
        if self.distributed:
            labels = exact_labels(labels, embeddings.device)
        self.embedding_memory = self.embedding_memory.to(device=embeddings.device, dtype=embeddings.dtype)
        self.label_memory = self.label_memory.to(device=embeddings.device, dtype=labels.dtype)
        if self.distributed:
            if enqueue_mask is not None:
                raise ValueError("CrossBatchMemory: enqueue_mask with a distributed=True loss is not supported")
            return self._distributed(embeddings, labels)
        if enqueue_mask is not None:
            if enqueue_mask.dtype != torch.bool or enqueue_mask.shape != (len(embeddings),):
                raise ValueError(f"CrossBatchMemory: enqueue_mask {tuple(enqueue_mask.shape)} "
                                 f"{enqueue_mask.dtype}: one bool per row of embeddings expected")
            enqueue_mask = enqueue_mask.to(embeddings.device)
            queued, queued_labels = embeddings[enqueue_mask], labels[enqueue_mask]
            embeddings, labels = embeddings[~enqueue_mask], labels[~enqueue_mask]
        else:
            if len(embeddings) > self.memory_size:
                raise ValueError(f"CrossBatchMemory: a batch of {len(embeddings)} rows does not fit a memory of "
                                 f"{self.memory_size}")
            queued, queued_labels = embeddings, labels
        slots = self._enqueue(queued, queued_labels)
        end = self.memory_size if self._filled else self._position
        refs, ref_labels = self.embedding_memory[:end], self.label_memory[:end]
        if len(embeddings) == 0:  # every row was enqueued: no queries
            return embeddings.sum() * 0
        own = slots if enqueue_mask is None else None
        return references_loss(embeddings, labels, refs, ref_labels, self.loss.params, own=own,
                               reduction=self.reduction)

    def _distributed(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Every rank enqueues the global batch and ranks its own rows against the queue: the global mean's value,
        world_size / N times the gradient of the local rows' sum (DistributedDataParallel averages it to the
        single-process gradient)."""
        rank, size = world(self.process_group)
        device = _comm_device(self.process_group, embeddings)
        need_grad = embeddings.requires_grad and torch.is_grad_enabled()
        sizes, _, _ = _share_status(embeddings, labels, self.process_group, device, self.loss.params, need_grad)
        total = sum(sizes)
        if total > self.memory_size:
            raise ValueError(f"CrossBatchMemory: a global batch of {total} rows (the ranks' {sizes}) does not fit "
                             f"a memory of {self.memory_size}")
        gathered = _gather_padded(embeddings.detach().to(device), sizes, self.process_group).to(embeddings.device)
        gathered_labels = _gather_padded(labels.to(device), sizes, self.process_group).to(embeddings.device)
        slots = self._enqueue(gathered, gathered_labels)
        end = self.memory_size if self._filled else self._position
        refs, ref_labels = self.embedding_memory[:end], self.label_memory[:end]
        start = sum(sizes[:rank])
        if sizes[rank]:
            local = references_loss(embeddings, labels, refs, ref_labels, self.loss.params,
                                    own=slots[start:start + sizes[rank]], reduction="sum")
        else:
            local = embeddings.sum() * 0
        part = local.detach().to(device=device, dtype=torch.float64).reshape(1)
        dist.all_reduce(part, group=self.process_group)
        scaled = local * (size / total)
        return scaled + (part.to(scaled.device, scaled.dtype).reshape(()) / total - scaled.detach())

    def _enqueue(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Writes the rows (detached) at the queue's position, wrapping around; returns their slots."""
        start = self._position
        slots = (start + torch.arange(len(embeddings), device=embeddings.device)) % self.memory_size
        with torch.no_grad():
            self.embedding_memory[slots] = embeddings.detach()
            self.label_memory[slots] = labels.detach()
        end = (start + len(embeddings)) % self.memory_size
        self._position = end
        self._filled = self._filled or (len(embeddings) > 0 and end <= start)
        self.queue_idx.fill_(end)
        self.has_been_filled.fill_(self._filled)
        return slots
