"""The optional dependencies: what the library alone does not need, and the one-line error when a
feature that needs one is used without it.

A ``SyntheticDataset`` user installs the library (torch, torchvision, numpy, pillow, pyyaml,
tqdm). The pipeline (``dvc repro``, the report, MLflow tracking and ``models:/`` URIs, the bundled
digits) needs the ``pipeline`` extra: ``pip install 'augment-cgen[pipeline]'``; ``make run`` and
``make check`` install it (setup.cfg).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from augment.settings.sections import ConfigError

DISTRIBUTION = "augment-cgen"  # the name on the package index (setup.cfg); the import name is augment
PIPELINE_EXTRA = f"{DISTRIBUTION}[pipeline]"


class MissingExtra(ConfigError):
    """A feature used without the optional package it needs: the message names both and the
    install command (exit code 2, like any other unusable setting)."""


def require(module: str, feature: str) -> ModuleType:
    """``import module``, or a :class:`MissingExtra` line saying that ``feature`` needs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise MissingExtra(
            f"{feature} needs {package}, which is not installed: pip install '{PIPELINE_EXTRA}'"
        ) from None
