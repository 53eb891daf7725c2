"""dvc.yaml's stages as DVC expands them, for the tools that walk the pipeline without DVC
(benchmarks/gpu_check.py runs each stage's command; the tests check each stage's params).

A ``foreach`` is a dict (``${key}`` and ``${item}``), a list (``${item}``) or a reference into
params.yaml such as ``${classifier.sources}``, resolved from the loaded params as DVC resolves it
from the file. Only ``${key}`` and ``${item}`` are substituted in the stage body: paths
(``${paths.*}``) are left as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Stage", "expanded_stages"]

_REFERENCE = re.compile(r"^\$\{\s*([\w.]+)\s*\}$")  # the whole value is one ${dotted.key}


@dataclass(frozen=True)
class Stage:
    """One expanded stage: ``train_classifier@real``."""

    label: str  # the name DVC gives it (``name`` or ``name@key``)
    cmd: str  # its command, ${key} / ${item} substituted
    params: tuple[str, ...]  # its params entries, ${key} / ${item} substituted


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"dvc.yaml foreach refers to {dotted!r}, which params has not")
        value = value[part]
    return value


def expanded_stages(dvc_yaml: Path, params: dict[str, Any]) -> list[Stage]:
    """Every stage of ``dvc_yaml`` in file order, ``foreach`` expanded; ``params`` is the nested
    params dict (:meth:`augment.params.config.Params.to_dict`) that a ``${...}`` foreach refers to."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    out: list[Stage] = []
    for name, stage in stages.items():
        if "foreach" not in stage:
            out.append(Stage(name, stage["cmd"], tuple(stage.get("params", []))))
            continue
        items = stage["foreach"]
        if isinstance(items, str):
            match = _REFERENCE.match(items)
            if not match:
                raise ValueError(f"dvc.yaml stage {name}: foreach {items!r} is not a ${{params.key}} reference")
            items = _lookup(params, match.group(1))
        pairs = items.items() if isinstance(items, dict) else ((item, item) for item in items)
        body = stage["do"]
        for key, item in pairs:

            def fill(text: str, key: Any = key, item: Any = item) -> str:
                return str(text).replace("${key}", str(key)).replace("${item}", str(item))

            out.append(Stage(f"{name}@{key}", fill(body["cmd"]), tuple(fill(p) for p in body.get("params", []))))
    return out
