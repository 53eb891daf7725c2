"""``params.yaml`` (and ``--set KEY=VALUE`` overrides) to a checked :class:`~augment.params.config.Params`.

Validation happens here, before any work starts: unknown keys (with the nearest valid key
suggested), wrong types, out-of-range values (each field's :func:`~augment.params.config.ranged` rule)
and unknown names all raise :class:`~augment.params.config.ConfigError`, whose message names the dotted
key. The CLI and every stage turn it into exit code 2.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Union

import yaml

from augment.params.config import DEFAULT_PARAMS_FILE, RANGE, SECTIONS, UNKNOWN_SECTION, ConfigError, Params, one_line

# --------------------------------------------------------------------------------------------
# Building dataclasses from plain dicts, with types checked.
# --------------------------------------------------------------------------------------------


_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _plural_name(tp: Any) -> str:
    return {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of {_plural_name(item_tp)}, got {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        key_tp, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(
                f"{key}: expected a mapping of {_plural_name(key_tp)} to {_plural_name(item_tp)}, got {value!r}"
            )
        return {_coerce(k, key_tp, key): _coerce(v, item_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; users mean a number
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{key}: expected a finite number, got {value!r}")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported annotation {tp!r} for {key}")
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _sections_field(cls: type) -> dataclasses.Field | None:
    """The field of ``cls`` that holds extra named sections (config.SECTIONS), if any."""
    return next((f for f in dataclasses.fields(cls) if SECTIONS in f.metadata), None)


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix or 'params'}: expected a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    extra = _sections_field(cls)
    known = {f.name for f in dataclasses.fields(cls) if f is not extra}
    sections: dict[str, type] = {}
    if extra is not None and any(key not in known for key in raw):
        # e.g. the installed generator plugins' configs; only the names asked for, so that a
        # file naming built-ins alone loads no plugin
        sections = extra.metadata[SECTIONS]([key for key in raw if key not in known])
    for key in raw:
        if key not in known and key not in sections:
            dotted = f"{prefix}.{key}" if prefix else str(key)
            misplaced = _misplaced(dotted)
            if misplaced:
                raise ConfigError(misplaced)
            if extra is not None and UNKNOWN_SECTION in extra.metadata and isinstance(raw[key], dict):
                # a section of its own: a generator's, e.g. a plugin that is not installed
                raise ConfigError(f"{dotted}: {extra.metadata[UNKNOWN_SECTION](key)}")
            candidates = [f"{prefix}.{k}" if prefix else k for k in (*known, *sections)]
            raise ConfigError(f"unknown key {dotted!r}{_suggest(dotted, candidates)}")
    kwargs: dict[str, Any] = {}
    if extra is not None:
        kwargs[extra.name] = extra.default_factory()  # type: ignore[operator]  # e.g. the built-ins' sampling defaults
        kwargs[extra.name].update(
            {
                name: _build(section, raw[name], f"{prefix}.{name}" if prefix else name)
                for name, section in sections.items()
                if name in raw
            }
        )
    for f in dataclasses.fields(cls):
        if f.name not in raw or f is extra:
            continue
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, raw[f.name], dotted)
        else:
            kwargs[f.name] = _coerce(raw[f.name], tp, dotted)
    return cls(**kwargs)


def _misplaced(dotted: str) -> str | None:
    """Where a generator's key belongs when it sits in the other of its two sections: a sampling
    setting under ``generators.<name>`` (e.g. cfm's guidance), or a training setting under
    ``sample.generators.<name>``; None for any other key."""
    parts = dotted.split(".")
    if len(parts) == 3 and parts[0] == "generators":
        name, key, belongs = parts[1], parts[2], "sample.generators"
    elif len(parts) == 4 and parts[:2] == ["sample", "generators"]:
        name, key, belongs = parts[2], parts[3], "generators"
    else:
        return None
    from augment.models.registry import REGISTRY  # here: the models import augment.params.config

    if name not in REGISTRY:
        return None
    cls = REGISTRY[name]
    other = cls.sampling_class if belongs == "sample.generators" else cls.config_class
    if key not in {f.name for f in dataclasses.fields(other)}:
        return None
    why = " (how the trained model draws: changing it needs no retraining)" if belongs == "sample.generators" else ""
    what = "sampling" if belongs == "sample.generators" else "training"
    return f"{dotted}: a {what} setting of {name}{why}: write it as {belongs}.{name}.{key}"


def _suggest(key: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    if not close:
        leaf = key.rsplit(".", 1)[-1]
        close = [
            c
            for c in candidates
            if c.rsplit(".", 1)[-1]
            in difflib.get_close_matches(leaf, [c.rsplit(".", 1)[-1] for c in candidates], n=1, cutoff=0.6)
        ]
    return f"; did you mean {close[0]!r}?" if close else ""


def all_keys(cls: type = Params, prefix: str = "", plugins: bool = True) -> list[str]:
    """Every dotted leaf key of the config, e.g. ``generators.cvaegan.gamma``; the installed
    plugins' sections too unless ``plugins`` is False (then no plugin is looked up)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        if SECTIONS in f.metadata:  # e.g. generators.<plugin>.<key>, beside the built-ins
            for name, section in f.metadata[SECTIONS](None if plugins else ()).items():
                keys.extend(all_keys(section, f"{prefix}.{name}" if prefix else name, plugins))
        elif dataclasses.is_dataclass(hints[f.name]):
            keys.extend(all_keys(hints[f.name], dotted, plugins))
        else:
            keys.append(dotted)
    return keys


def mapping_keys(cls: type = Params, prefix: str = "") -> list[str]:
    """The dotted keys whose value is a mapping (``generators.methods``): ``--set`` may set one
    entry of them (``generators.methods.toy=data/splits``)."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        if SECTIONS in f.metadata:
            continue
        if dataclasses.is_dataclass(hints[f.name]):
            keys.extend(mapping_keys(hints[f.name], dotted))
        elif typing.get_origin(hints[f.name]) is dict:
            keys.append(dotted)
    return keys


def check_ranges(section: Any, prefix: str = "") -> None:
    """Every field's ``ranged`` rule, depth first in the order of the fields; ConfigError names
    the first value out of range by its dotted key (``prefix.field``)."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        dotted = f"{prefix}.{f.name}" if prefix else f.name
        if SECTIONS in f.metadata:  # named sections sit in the parent: generators.<plugin>
            for name, extra in value.items():
                check_ranges(extra, f"{prefix}.{name}" if prefix else name)
        elif dataclasses.is_dataclass(value):
            check_ranges(value, dotted)
        elif RANGE in f.metadata:
            ok, allowed = f.metadata[RANGE]
            if not ok(value):
                raise ConfigError(f"{dotted}: must be {allowed}, got {value!r}")


def _validate(params: Params) -> None:
    check_ranges(params)
    from augment.params.methods import check_methods, method_names, styled_methods
    from augment.params.sources import check_sources  # here: augment.params.sources imports the models (torch)

    check_methods(params)
    try:
        check_sources(
            params.classifier.sources,
            method_names(params),
            styled_methods(params),
            pool=bool(params.data.labelled or params.data.unlabelled_root),
        )
    except ValueError as bad:
        raise ConfigError(f"classifier.sources: {bad}") from None
    a = params.augmentation
    if a.scale_min > a.scale_max:
        raise ConfigError(
            f"augmentation.scale_min: must be <= augmentation.scale_max ({a.scale_max}), got {a.scale_min}"
        )


# --------------------------------------------------------------------------------------------
# Public entry points.
# --------------------------------------------------------------------------------------------


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from ``--set``; VALUE is parsed as YAML (``5``, ``0.5``, ``true``, ``[1,2]``)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. generators.cgan.epochs=5")
    key, raw = text.split("=", 1)
    key = key.strip()
    try:
        value = _load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: cannot parse value {raw!r}: {one_line(err)}") from None
    return key, value


def apply_overrides(raw: dict[str, Any], overrides: list[tuple[str, Any]]) -> dict[str, Any]:
    """Set dotted keys in the raw mapping; unknown keys are left to :func:`params_from_dict`."""
    valid = set(all_keys(plugins=False))  # the plugins are looked up for a key no built-in has
    mappings = set(mapping_keys())
    for key, value in overrides:
        if key not in valid and key.rsplit(".", 1)[0] not in mappings:
            valid = set(all_keys())
        if key not in valid and key.rsplit(".", 1)[0] in mappings:
            pass  # one entry of a mapping, e.g. generators.methods.<name>=<file>
        elif key not in valid:
            misplaced = _misplaced(key)
            if misplaced:
                raise ConfigError(f"--set {misplaced}")
            section = sorted(k for k in valid if k.startswith(key + "."))
            if key and section:
                raise ConfigError(
                    f"--set {key}: {key!r} is a section, not a value; set one of its keys, e.g. {section[0]!r}"
                )
            raise ConfigError(f"unknown key {key!r}{_suggest(key, sorted(valid))}")
        node = raw
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return raw


def params_from_dict(raw: dict[str, Any] | None) -> Params:
    """Build and validate :class:`Params` from a plain mapping (missing keys take defaults)."""
    params = _build(Params, raw or {}, "")
    _validate(params)
    return params


class _AliasRefused(yaml.YAMLError):
    """A YAML alias (``*name``) in a params file."""


class _NoAliasLoader(yaml.SafeLoader):
    """yaml.SafeLoader that stops at the first alias (``*name``), before it is expanded: nested
    aliases grow exponentially (a 9-level file needs gigabytes), and params.yaml has no use for
    them (DVC's own params reader would expand them too)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _AliasRefused(
                f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                f"accepted in a params file; write the value out"
            )
        return super().compose_node(parent, index)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a params file, with errors that name the file; aliases are refused unexpanded."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file not found: {path}")
    try:
        raw = _load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file (UTF-8): {one_line(err)}") from None
    except _AliasRefused as err:
        raise ConfigError(f"{path}: {one_line(err)}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: malformed YAML: {one_line(err)}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def load_params(path: str | Path | None = DEFAULT_PARAMS_FILE, overrides: list[str] | None = None) -> Params:
    """Read ``params.yaml`` (or defaults when ``path`` is None), apply ``--set`` overrides, validate."""
    raw = read_yaml(path) if path is not None else {}
    parsed = [parse_override(o) for o in overrides or []]
    return params_from_dict(apply_overrides(raw, parsed))
