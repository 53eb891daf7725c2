"""Generator checkpoints: weights plus everything needed to rebuild the network.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)``: a file carrying pickled code is refused, never executed.
Before unpickling, the CRC-32 of every record in the zip is verified (torch does not), so a
damaged file is refused rather than loaded as different weights; every field is type-checked.
Writes go to a temporary file in the same folder and are renamed into place (``os.replace`` is
atomic), so a crash during a save leaves the previous checkpoint intact.

Layout (format version 1):
    format_version  int
    library_version str     augment.__version__ of the writer
    model           str     registry name
    config          dict    the model's config section (dataclass as dict): its training settings,
                            never its sampling settings (sample.generators.<name>, set at drawing)
    image_shape     [C, H, W]
    classes         [str]   class names, index = label
    unlabelled      bool    optional, True: trained with a label budget's pool (use_unlabelled)
    state_dict      weights (and batch-norm buffers)
    training        dict    optional: epoch, optimizer states, RNG state, loss history (for --resume)
"""

from __future__ import annotations

import dataclasses
import pickle
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from augment.core.outputs import atomic_torch_save
from augment.models import ENTRY_POINT_GROUP, REGISTRY, ConditionalGenerator, build_model, model_class
from augment.params.config import ConfigError, one_line
from augment.params.file import params_from_dict
from augment.settings.version import __version__

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, unsafe, of another kind or version."""


def _check_archive(path: Path) -> None:
    """Verify the CRC-32 of every record of a zip-format torch file.

    ``torch.load`` does not check them, so a flipped byte inside the weights would otherwise
    load silently as different weights. Records written without a CRC (0) are skipped.
    """
    if not zipfile.is_zipfile(path):
        return  # the legacy (non-zip) format, or not a torch file at all: torch.load decides
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.CRC == 0 and info.file_size:
                continue
            with archive.open(info) as member:
                while member.read(1 << 20):
                    pass


def safe_torch_load(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that name the file and say what is wrong.

    No code stored in the file is ever run: ``weights_only`` unpickles tensors and plain
    containers only and refuses anything else. Any failure, whatever torch raises for a
    truncated, corrupt or foreign file, becomes one :class:`CheckpointError` line.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    try:
        _check_archive(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's deprecation chatter about storages
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message opens with advice to load it with weights_only=False, which would run
        # the file's code: only the name of what it refused is passed on
        found = re.search(r"GLOBAL\s+(\S+)", str(err))
        what = f"it names {found.group(1)}" if found else "unpickling refused"
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than weights ({what}); "
            "augment loads weights only and never runs code from a file"
        ) from None
    except PermissionError as err:  # unreadable, not damaged: another user's file, say
        raise CheckpointError(f"{path}: cannot be read: {err.strerror or err}") from None
    except MemoryError:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt): out of memory") from None
    except Exception as err:  # noqa: BLE001 - torch raises many types for damaged files
        raise CheckpointError(
            f"{path}: not a readable checkpoint (truncated or corrupt): {type(err).__name__}: {one_line(err)}"
        ) from None


def generator_payload(
    model: ConditionalGenerator, classes: list[str], training: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The checkpoint dict for ``model`` (see the module docstring)."""
    payload = {
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "model": model.name,
        "config": dataclasses.asdict(model.config),
        "image_shape": list(model.image_shape),
        "classes": list(classes),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if model.unlabelled:  # trained with a pool: rebuilt with use_unlabelled() (absent: False)
        payload["unlabelled"] = True
    if training is not None:
        payload["training"] = training
    return payload


def _canonical(value: Any) -> Any:
    """``value`` with every string interned, containers rebuilt, tensors on the CPU.

    Pickle writes a string once per distinct object and refers back to it afterwards, so a
    resumed run (whose history and optimizer keys were read back from a file: new string
    objects) would otherwise write different bytes for the same content. Interned, the same
    checkpoint content always gives the same file. Tensors move to the CPU (a no-op for those
    already there), so a checkpoint written on a GPU, optimizer moments included, loads on any
    machine; Adam's load_state_dict moves the moments back to the parameters' device on --resume.
    """
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, dict):
        return {_canonical(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_canonical(v) for v in value)
    return value


def save_generator(
    path: str | Path, model: ConditionalGenerator, classes: list[str], training: dict[str, Any] | None = None
) -> None:
    """Write a generator checkpoint atomically; the same content always gives the same bytes."""
    atomic_torch_save(_canonical(generator_payload(model, classes, training)), path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check a generator checkpoint's metadata (no network is built).

    Every field is type-checked, so a hand-edited or hostile file fails here with a message
    naming the field, not later with a stray TypeError.
    """
    payload = safe_torch_load(path)
    if not isinstance(payload, dict) or "format_version" not in payload or "model" not in payload:
        raise CheckpointError(f"{path}: not an augment generator checkpoint")
    version = payload["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: bad format_version {version!r}; not a checkpoint this augment wrote")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this augment "
            f"{__version__} reads (up to {FORMAT_VERSION}); upgrade augment"
        )
    missing = [k for k in ("config", "image_shape", "classes", "state_dict") if k not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    name, shape, classes = payload["model"], payload["image_shape"], payload["classes"]
    if not isinstance(name, str) or name not in REGISTRY:
        raise CheckpointError(
            f"{path}: holds a {name!r} generator, which this installation does not have: install the "
            f"plugin that provides it (entry-point group {ENTRY_POINT_GROUP}); installed: {', '.join(REGISTRY)}"
        )
    if not (
        isinstance(shape, (list, tuple))
        and len(shape) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)
    ):
        raise CheckpointError(f"{path}: image_shape must be [C, H, W] positive integers, got {shape!r}")
    if not (isinstance(classes, (list, tuple)) and len(classes) >= 1 and all(isinstance(c, str) for c in classes)):
        raise CheckpointError(f"{path}: classes must be a non-empty list of names, got {type(classes).__name__}")
    if len(set(classes)) != len(classes):
        twice = sorted({c for c in classes if list(classes).count(c) > 1})
        raise CheckpointError(f"{path}: classes must be distinct names; named more than once: {', '.join(twice[:5])}")
    if not isinstance(payload["config"], dict):
        raise CheckpointError(f"{path}: config must be a mapping, got {type(payload['config']).__name__}")
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: state_dict must map parameter names to tensors")
    bad = {k: int((~torch.isfinite(v)).sum()) for k, v in state.items() if v.is_floating_point()}
    bad = {k: n for k, n in bad.items() if n}
    if bad:
        first = next(iter(bad))
        raise CheckpointError(
            f"{path}: weights hold {sum(bad.values())} NaN or infinite values ({len(bad)} tensors, e.g. "
            f"{first}); the training that wrote them diverged, or the file was edited: retrain the model"
        )
    training = payload.get("training")
    if training is not None and not isinstance(training, dict):
        raise CheckpointError(f"{path}: training must be a mapping, got {type(training).__name__}")
    return payload


def _mismatch(expected: dict[str, torch.Tensor], given: dict[str, torch.Tensor]) -> str | None:
    """One line saying how the stored weights differ from the network's, or None if they fit."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shapes = [k for k in expected if k in given and tuple(expected[k].shape) != tuple(given[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if shapes:
        k = shapes[0]
        parts.append(
            f"{len(shapes)} of another shape (e.g. {k}: {tuple(given[k].shape)} stored, "
            f"{tuple(expected[k].shape)} expected)"
        )
    return "; ".join(parts) or None


def build_from_checkpoint(path: str | Path, payload: dict[str, Any]) -> ConditionalGenerator:
    """The network described by a checked checkpoint, with its weights loaded.

    The network is first built on the ``meta`` device (no memory) and its parameter shapes are
    compared with the stored ones, so a config that asks for a huge network fails cleanly.
    """
    name = payload["model"]
    cls = model_class(name)
    # the sampler's settings are not the checkpoint's (sample.generators.<name>, set by whoever
    # draws); a checkpoint written before they moved there kept them in its config: left out
    sampling = {f.name for f in dataclasses.fields(cls.sampling_class)}
    trained = {k: v for k, v in payload["config"].items() if k not in sampling}
    try:
        config = cls.config_class(**trained)
        params_from_dict({"generators": {name: dataclasses.asdict(config)}})  # ranges and types
    except (TypeError, ConfigError) as err:
        raise CheckpointError(f"{path}: bad {name} config in the checkpoint: {one_line(err)}") from None
    shape, num_classes = tuple(payload["image_shape"]), len(payload["classes"])
    unlabelled = bool(payload.get("unlabelled", False))  # checkpoints before label budgets: False
    try:
        with torch.device("meta"):
            skeleton = build_model(name, config, shape, num_classes, unlabelled)
    except Exception as err:  # noqa: BLE001 - e.g. llike_layer out of range for this shape
        raise CheckpointError(f"{path}: cannot rebuild a {name!r} model from it: {one_line(err)}") from None
    problem = _mismatch(skeleton.state_dict(), payload["state_dict"])
    if problem:
        raise CheckpointError(f"{path}: weights do not fit a {name!r} model: {problem}")
    try:
        model = build_model(name, config, shape, num_classes, unlabelled)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path}: weights do not fit a {name!r} model: {one_line(err)}") from None
    return model


def _names(classes: list[str]) -> str:
    return f"{len(classes)}: {', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}"


def check_classes(where: str | Path, trained: list[str], data: list[str], what: str = "the data's") -> None:
    """A model applied to data must know the data's classes, in the same order: its label k is
    the data's class k. Otherwise one CheckpointError line naming both lists."""
    if list(trained) != list(data):
        raise CheckpointError(
            f"{where}: trained on other classes ({_names(list(trained))}) than {what} ({_names(list(data))})"
        )


def load_generator(
    path: str | Path,
    expected_model: str | None = None,
    expected_shape: tuple[int, int, int] | None = None,
    device: str | torch.device = "cpu",
    expected_classes: list[str] | None = None,
) -> tuple[ConditionalGenerator, dict[str, Any]]:
    """Rebuild a generator from its checkpoint; returns (model in eval mode, checkpoint dict).

    ``expected_model`` / ``expected_shape`` / ``expected_classes`` guard against loading the
    wrong file, or applying a model to data of other classes.
    """
    payload = read_checkpoint(path)
    name = payload["model"]
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"{path}: holds a {name!r} model, expected {expected_model!r}")
    shape = tuple(payload["image_shape"])
    if expected_shape is not None and shape != tuple(expected_shape):
        raise CheckpointError(f"{path}: trained on images of shape {shape}, expected {tuple(expected_shape)}")
    if expected_classes is not None:
        check_classes(path, payload["classes"], expected_classes)
    model = build_from_checkpoint(path, payload)
    return model.to(device).eval(), payload
