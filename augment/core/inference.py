"""Running a network for inference: where its weights live, and eval mode without gradients.

    with inference(model):        # eval mode (batch norm uses its running statistics), no
        out = model(x)            # autograd graph; the previous train/eval mode comes back after

Every measurement, sampling and prediction in the project goes through these two, so "the
model's device" and "eval mode, no gradients, mode restored" each have one definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def module_device(model: torch.nn.Module) -> torch.device:
    """The device of the module's first parameter (CPU for a module without parameters)."""
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


@contextmanager
def inference(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no gradients inside the block; the module's train/eval mode restored after,
    whether the block finished or raised."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
