"""Set values in a params file in place, keeping its comments, order and layout.

A command that chooses settings for the user (the classic sweep) writes them where the user reads
them: into ``params.yaml``, each value replaced on its own line with the line's comment kept.
A PyYAML round trip would drop every comment, which is where this project's params explain
themselves. The edit is checked before it lands: the new text must parse to the old document
with exactly the asked values changed, and the file is replaced whole (augment/core/outputs.py),
so a failure leaves it as it was.

Keys are dotted (``augmentation.hflip``); a key missing from its section is added at the
section's end with the section's indentation. Values are scalars: numbers, booleans, strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from augment.core.outputs import PathLike, StagedOutputs

__all__ = ["set_values", "yaml_scalar"]

Scalar = bool | int | float | str

# "  key: value   # comment" -> indent, key, the value's text, the spacing and comment after it
_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z_][\w.-]*):(?P<gap> *)(?P<value>[^#]*?)(?P<tail>\s+#.*)?$")


def yaml_scalar(value: Scalar) -> str:
    """``value`` as YAML reads it back: true / false, a number, a double-quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}" if "e" not in f"{value:g}" else repr(value)
    return json.dumps(str(value))  # a JSON string is a YAML double-quoted scalar


def _locate(lines: list[str], dotted: str) -> tuple[int | None, int, int]:
    """(the line of ``dotted``'s key or None, the last line of its parent's block, the indent of
    the parent's children) — the parent's block ends before the next line indented as little as it."""
    parts = dotted.split(".")
    start, end, indent = 0, len(lines), 0
    for depth, part in enumerate(parts):
        found, child_indent = None, None
        for i in range(start, end):
            m = _LINE.match(lines[i])
            if not m or lines[i].lstrip().startswith("#"):
                continue
            width = len(m["indent"])
            if child_indent is None:
                child_indent = width
            if width == child_indent and m["key"] == part:
                found = i
                break
        if depth == len(parts) - 1:
            last = start - 1
            for i in range(start, end):
                if lines[i].strip() and not lines[i].lstrip().startswith("#"):
                    last = i
            return found, last, indent if child_indent is None else child_indent
        if found is None:
            raise ValueError(f"{'.'.join(parts[: depth + 1])}: no such section in the file")
        indent = len(_LINE.match(lines[found])["indent"])  # type: ignore[index]
        start, end = found + 1, len(lines)
        for i in range(found + 1, len(lines)):
            text = lines[i]
            if text.strip() and not text.lstrip().startswith("#") and len(text) - len(text.lstrip()) <= indent:
                end = i
                break
        indent += 2
    raise AssertionError("unreachable")


def _set(lines: list[str], dotted: str, value: Scalar) -> None:
    found, last, indent = _locate(lines, dotted)
    text = yaml_scalar(value)
    key = dotted.rsplit(".", 1)[-1]
    if found is None:
        lines.insert(last + 1, f"{' ' * indent}{key}: {text}")
        return
    m = _LINE.match(lines[found])
    assert m is not None
    old = m["value"]
    if old.strip() in ("", "|", ">"):
        raise ValueError(f"{dotted}: a section or block value, not a scalar to set")
    tail = m["tail"] or ""
    if tail:  # keep the comment's column where the new value fits before it (one space at least)
        comment = tail.lstrip()
        tail = " " * max(1, len(tail) - len(comment) - (len(text) - len(old))) + comment
    lines[found] = f"{m['indent']}{key}:{m['gap'] or ' '}{text}{tail}"


def _nested(document: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, key = dotted.split(".")
    for part in parents:
        document = document.setdefault(part, {})
    document[key] = value


def set_values(path: PathLike, values: Mapping[str, Scalar]) -> Path:
    """Set each dotted key of ``values`` in the YAML file ``path`` (see the module doc).
    ValueError names a missing section; the file is unchanged on any error."""
    path = Path(path)
    original = path.read_text()
    lines = original.split("\n")
    for dotted, value in values.items():
        _set(lines, dotted, value)
    edited = "\n".join(lines)
    expected = yaml.safe_load(original) or {}
    for dotted, value in values.items():
        _nested(expected, dotted, value)
    if yaml.safe_load(edited) != expected:
        raise ValueError(f"{path}: editing {', '.join(values)} in place would change more than those keys")
    with StagedOutputs() as staged:
        staged.path(path).write_text(edited)
    return path
