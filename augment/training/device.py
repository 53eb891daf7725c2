"""Where the networks run: ``device: auto | cpu | cuda`` to a torch device, and the process-wide
torch settings every command and stage applies first (CPU threads, IEEE float32 on CUDA)."""

from __future__ import annotations

import torch

from augment.core.acceleration import configure_precision
from augment.params.config import ConfigError


class DeviceUnavailable(ConfigError, RuntimeError):
    """``device: cuda`` on a machine without one: a usage error (exit 2)."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("device: cuda was asked for, but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def configure_torch(params) -> None:
    """Process-wide torch settings from params: the number of CPU threads (``cpu_threads``), and
    IEEE float32 on CUDA outside the training steps (augment/core/acceleration.py)."""
    configure_precision()
    if params.cpu_threads > 0:
        torch.set_num_threads(params.cpu_threads)
