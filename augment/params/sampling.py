"""How a loaded generator draws: its sampling settings (``sample.generators.<name>``) set on it.

A generator's settings come in two kinds (docs/design.md, "Two kinds of settings"): what it is
trained with (``generators.<name>``, its ``config_class``, saved in the checkpoint) and how the
trained model draws and encodes (``sample.generators.<name>``, its ``sampling_class``, e.g. cfm's
guidance and solver). No checkpoint carries the second, so whoever draws sets it here: the
sample, restyle and evaluate stages, ``augment sample`` / ``stylize``, ``SyntheticDataset``, the
registered MLflow model's ``predict`` and the benchmarks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from augment.params.file import params_from_dict


def apply_sampling(model: Any, settings: Any) -> None:
    """Set how ``model`` (a ConditionalGenerator) draws and encodes: ``settings`` is its sampling
    dataclass (``model.sampling_class``, e.g. ``Params.sampling(name)``; copied, so the model and
    the params do not share it) or a mapping of its keys, checked as params.yaml's
    ``sample.generators.<name>`` is (one-line errors naming the key); None keeps what the model
    has (a checkpoint's model: its class's defaults)."""
    if settings is None:
        return
    if isinstance(settings, Mapping):
        settings = params_from_dict({"sample": {"generators": {model.name: dict(settings)}}}).sampling(model.name)
    elif type(settings) is not model.sampling_class:
        raise ValueError(
            f"sampling: expected a mapping or a {model.sampling_class.__name__} for {model.name}, "
            f"got {type(settings).__name__}"
        )
    model.sampling = copy.deepcopy(settings)
