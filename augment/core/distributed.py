"""Data-parallel training of the generators across processes, on torch.distributed (torchrun).

    torchrun --nproc-per-node 2 -m augment.cli train cvae     # or: augment train cvae --nproc 2

Every rank builds the same model from the same seed and walks the same deterministic batch order
(augment/training/loop.py); of each batch of ``batch_size`` images (the *global* batch), rank r takes
the r-th of ``world`` equal contiguous slices. What keeps the ranks one model:

- **Gradients are averaged explicitly.** The models take gradients with ``torch.autograd.grad``
  on each network's own parameters (augment/models/base.py ``_step``), which DDP's backward
  hooks never see; so ``_step`` calls :func:`average_gradients` (one all-reduce per optimizer
  step) before the update. The mean over ranks of the slices' mean losses is the global batch's
  mean loss, so the averaged gradient is the global batch's gradient.
- **Batch norm is synchronised** (:class:`SyncBatchNorm`): in training, each batch-norm layer
  all-reduces its per-channel sums, so it normalises with the global batch's statistics, as one
  process with the whole batch would; it works on the gloo backend (CPU), where
  ``torch.nn.SyncBatchNorm`` does not. Gradients flow through the all-reduce
  (an all-reduce whose backward all-reduces the gradients).
- **The training noise is the global batch's.** Inside a training step, every draw of noise
  (the prior codes, the reparameterisation's eps) draws the whole global batch's noise from the
  same RNG stream on every rank and keeps this rank's rows (:func:`randn`), so the ranks' random
  streams stay in step and each image gets the noise it would get in one process.
- **The losses are averaged** (:func:`average_losses`) before the loop looks at them, so every
  rank sees the same numbers and stops together on a non-finite one.
- **Only rank 0 writes**: checkpoints, callbacks (grids, loss CSV, MLflow), progress bars.

Outside a torchrun launch (``WORLD_SIZE`` unset or 1) every function here is the identity and
training is exactly the single-process loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn

from augment.settings.sections import ConfigError

_IN_STEP = False  # True inside a data-parallel training step: noise is drawn for the global batch


def init_from_environment(device: torch.device) -> bool:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1): NCCL on CUDA,
    gloo on the CPU; on CUDA each rank takes GPU ``LOCAL_RANK``. Returns whether distributed."""
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def rank_and_world() -> tuple[int, int]:
    """(this process's rank, the number of processes); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Rank 0, or a single process: the one that writes files and MLflow runs. Before the
    process group exists (a stage opens its MLflow run first), torchrun's ``RANK`` says."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def local_device(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` on a multi-GPU launch, ``device`` otherwise."""
    if device.type == "cuda" and dist.is_available() and dist.is_initialized():
        return torch.device("cuda", torch.cuda.current_device())
    return device


def check_divisible(images: int, world: int, what: str) -> None:
    """Each of ``world`` processes takes ``images / world`` images of every step: a step that does
    not split evenly is refused in one line naming ``what`` (the batch-size key). The command
    checks the configured batch before starting any process, :func:`shard` every actual batch
    (the one batch of a training split smaller than ``batch_size``)."""
    if images % world:
        raise ConfigError(
            f"{what}: {images} images per step cannot be split evenly over {world} processes; use a multiple of {world}"
        )


def shard(indices: torch.Tensor, what: str) -> torch.Tensor:
    """This rank's contiguous slice of one global batch's indices [B] -> [B / world].

    ``what`` names the batch-size key for the error when B is not divisible by the world size.
    """
    rank, world = rank_and_world()
    if world == 1:
        return indices
    check_divisible(len(indices), world, what)
    size = len(indices) // world
    return indices[rank * size : (rank + 1) * size]


@contextlib.contextmanager
def training_step() -> Iterator[None]:
    """Mark a data-parallel training step: inside it, :func:`randn` draws global-batch noise."""
    global _IN_STEP
    previous, _IN_STEP = _IN_STEP, rank_and_world()[1] > 1
    try:
        yield
    finally:
        _IN_STEP = previous


def randn(
    rows: int,
    *rest: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``torch.randn(rows, *rest)``; inside a data-parallel training step (and without an
    explicit ``generator``), this rank's ``rows`` of the draw for all ranks' rows together.

    That draw is made on the CPU and then moved: the CPU generator is in the same state on
    every rank (same seed, same draws), and the checkpoint that rank 0 writes holds it, so a
    resumed run continues every rank's noise; each GPU's own generator would differ by rank.
    """
    rank, world = rank_and_world()
    if not _IN_STEP or generator is not None or world == 1:
        return torch.randn(rows, *rest, device=device, dtype=dtype, generator=generator)
    full = torch.randn(rows * world, *rest, dtype=dtype)  # [world * rows, ...], the same on every rank
    return full[rank * rows : (rank + 1) * rows].to(device)


def rand(rows: int, *rest: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``torch.rand(rows, *rest)`` sharded as :func:`randn` is: inside a data-parallel training
    step, this rank's rows of one draw for all ranks' rows (DiffAugment's per-image draws)."""
    rank, world = rank_and_world()
    if not _IN_STEP or world == 1:
        return torch.rand(rows, *rest, device=device)
    return torch.rand(rows * world, *rest)[rank * rows : (rank + 1) * rows].to(device)


def randint(low: int, high: int, rows: int, *rest: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``torch.randint(low, high, (rows, *rest))`` sharded as :func:`rand`."""
    rank, world = rank_and_world()
    if not _IN_STEP or world == 1:
        return torch.randint(low, high, (rows, *rest), device=device)
    return torch.randint(low, high, (rows * world, *rest))[rank * rows : (rank + 1) * rows].to(device)


def average_gradients(grads: list[torch.Tensor | None]) -> None:
    """Replace each gradient by its mean over the ranks, in place (one all-reduce)."""
    world = rank_and_world()[1]
    present = [g for g in grads if g is not None]
    if world == 1 or not present:
        return
    flat = torch.cat([g.reshape(-1) for g in present])
    dist.all_reduce(flat)  # sum over ranks
    flat /= world
    offset = 0
    for g in present:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average_losses(losses: dict[str, float]) -> dict[str, float]:
    """The mean of each loss over the ranks (every rank gets the same dict)."""
    world = rank_and_world()[1]
    if world == 1:
        return losses
    values = torch.tensor([losses[k] for k in losses], dtype=torch.float64)
    dist.all_reduce(values)
    return {k: float(v) / world for k, v in zip(losses, values, strict=True)}


# --------------------------------------------------------------------------------------------
# Synchronised batch norm (gloo and NCCL)
# --------------------------------------------------------------------------------------------


class _AllReduceSum(torch.autograd.Function):
    """y = sum over ranks of x (every rank gets y). Backward: the gradient with respect to each
    rank's x is the sum over ranks of dL/dy, since every rank's loss depends on every x."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        g = grad.clone()
        dist.all_reduce(g)
        return g


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are the global batch's, across all ranks.

    Same parameters and buffers as nn.BatchNorm1d / 2d (checkpoints are interchangeable). In
    eval mode, or in a single process, it is plain batch norm. Statistics: per channel c,
    mean = sum(x) / n and var = sum(x^2) / n - mean^2 over the n values of all ranks (the biased
    variance normalises; the running variance gets the unbiased n / (n - 1) one, as PyTorch's).
    """

    def __init__(self, source: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__(source.num_features, source.eps, source.momentum, source.affine, source.track_running_stats)
        self.load_state_dict(source.state_dict())
        self.to(source.weight.device if source.affine else "cpu")

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4):
            raise ValueError(f"expected a 2D, 3D or 4D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or rank_and_world()[1] == 1:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels'
        xf = x.float()
        n_local = torch.tensor([xf.numel() / xf.shape[1]], dtype=torch.float32, device=x.device)
        stats = torch.cat([xf.sum(dims), (xf * xf).sum(dims), n_local])  # [2C + 1]
        stats = _AllReduceSum.apply(stats)  # sums over ranks; gradients flow back
        c = xf.shape[1]
        n = stats[-1]
        mean = stats[:c] / n  # [C]
        var = (stats[c : 2 * c] / n - mean * mean).clamp_min(0)  # [C], biased
        if self.track_running_stats:
            assert self.num_batches_tracked is not None and self.running_mean is not None  # tracked: they exist
            assert self.running_var is not None
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def synchronise_batch_norm(module: nn.Module) -> None:
    """Replace every BatchNorm1d / 2d inside ``module`` with :class:`SyncBatchNorm`, in place
    (a no-op in a single process)."""
    if rank_and_world()[1] == 1:
        return
    for name, child in module.named_children():
        if isinstance(child, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(module, name, SyncBatchNorm(child))
        else:
            synchronise_batch_norm(child)
