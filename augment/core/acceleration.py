"""The training loops' speed options (params ``acceleration``): bf16 autocast, channels_last, compile.

Both training loops (augment/training/loop.py for the generators, evaluation/classifiers/training.py for the
classifiers, the judge and the filter) call these helpers, so that an option means the same
everywhere: ``prepare_networks`` once, ``batch_layout`` per batch, ``training_precision`` around
a step and ``outside_autocast`` around its backward passes. They change how fast a step runs,
not what it computes, up to rounding:

- ``precision``: ``fp32`` is IEEE float32 throughout (:func:`configure_precision` turns off
  TF32, which PyTorch allows for cuDNN convolutions by default). ``tf32``: a training step's
  convolutions and matrix products on CUDA use TF32 tensor cores (10-bit mantissa, float32
  range). ``bf16``: the forward passes of training run under ``torch.autocast`` with bfloat16;
  every loss then computes in float32 (augment/models/losses.py casts its inputs) and the
  gradients are taken outside autocast. Autocast's weight cache is off: the GAN steps update
  one network and then run it again inside the same step, and a cached bf16 copy would be the
  weights before the update. A CPU runs bf16 too (slowly, without bf16 units).
- ``channels_last``: the conv networks' weights and each batch in NHWC memory layout, the
  layout cuDNN's tensor-core convolutions read without a transpose.
- ``compile``: ``torch.compile`` of each trained network, in place (``nn.Module.compile``), so
  parameter names, checkpoints and the moving average are unchanged; the first steps of each
  network (and of each mode, train and eval) are spent compiling.

Sampling, reconstruction and every measurement stay IEEE float32 and eager, so the metrics of
two runs with different options compare like for like. Which options a training loop honours:
all of them, in every loop (generators, downstream classifiers, judge, filter, CAS). Whether each option pays is measured by
benchmarks/gpu_check.sh (docs/gpu.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch._functorch.config  # donated_buffer (see prepare_networks); torch has no public switch
from torch import nn

from augment.settings.sections import AccelerationConfig

# Extra keyword arguments of every torch.compile call; the tests set backend="eager" to check
# the wiring without waiting for a compiler.
COMPILE_OPTIONS: dict[str, Any] = {}


def configure_precision() -> None:
    """Process-wide: IEEE float32 convolutions and matrix products on CUDA (no TF32) outside
    the training steps that ask for it. Called by augment.training.device.configure_torch."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


@contextlib.contextmanager
def training_precision(device: torch.device | str, options: AccelerationConfig | None) -> Iterator[None]:
    """The context of one training step (forward, loss, backward, update) in ``options.precision``:
    fp32 (nothing), tf32 (TF32 allowed, restored after) or bf16 (autocast on ``device``'s type,
    no weight cache; backward passes leave it through :func:`outside_autocast`)."""
    precision = "fp32" if options is None else options.precision
    if precision == "tf32":
        saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    elif precision == "bf16":
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, cache_enabled=False):
            yield
    else:
        yield


def outside_autocast(device_type: str) -> contextlib.AbstractContextManager:
    """Leave any autocast region for a backward pass, as PyTorch's AMP recipe asks (backward
    ops run in the dtype their forward op had, whatever the context)."""
    return torch.autocast(device_type, enabled=False)


def prepare_networks(networks: Iterable[nn.Module], options: AccelerationConfig | None) -> None:
    """Apply ``channels_last`` and ``compile`` to each trained network, in place.

    Call after the networks are on their device and before their optimizers' first step:
    ``.to(memory_format=...)`` keeps the parameter objects, so optimizers built earlier still
    hold them.
    """
    if options is None:
        return
    if options.compile:
        # The CVAE-GAN's encoder and decoder take their gradients from one graph in two calls
        # (retain_graph=True, augment/models/cvaegan.py); a compiled backward that donates its
        # buffers to the first call refuses the second. Measured on an H200: without this the
        # CVAE-GAN's first compiled step fails.
        torch._functorch.config.donated_buffer = False
    for net in networks:
        if options.channels_last:
            net.to(memory_format=torch.channels_last)
        if options.compile:
            net.compile(**COMPILE_OPTIONS)


def batch_layout(x: torch.Tensor, options: AccelerationConfig | None) -> torch.Tensor:
    """A batch of images [B, C, H, W] in the networks' memory layout (NHWC under channels_last)."""
    if options is not None and options.channels_last and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
