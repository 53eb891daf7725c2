"""Set values in a params file in place, keeping its comments, order and layout.

A command that chooses settings for the user (the classic sweep) writes them where the user reads
them: into ``params.yaml``, each value replaced on its own line with the line's comment kept.
A PyYAML round trip would drop every comment, which is where this project's params explain
themselves. The edit is checked before it lands: the new text must parse to the old document
with exactly the asked values changed. :func:`edited_text` makes and checks the text (a command
may call it before its work, to fail early); :func:`set_values` also writes it, replacing the
file whole (augment/core/outputs.py), so a failure leaves it as it was.

Keys are dotted (``augmentation.hflip``); a key missing from its section is added at the
section's end with the section's indentation. Values are scalars: numbers, booleans, strings.
Block-style YAML only (``key: value`` lines), as the project's params files are; anything the
line editor cannot place exactly (a flow-style section, a key written twice, a key line it does
not recognise) is a ValueError naming the key, never a guess.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from augment.core.outputs import PathLike, StagedOutputs

__all__ = ["edited_text", "set_values", "yaml_scalar"]

Scalar = bool | int | float | str

# "  key: value   # comment": the value is a quoted scalar (which may hold " #") or plain text up
# to the comment; the tail is the spacing and the comment after it
_LINE = re.compile(
    r"""^(?P<indent>[ ]*)(?P<key>[A-Za-z_][\w.-]*):(?P<gap>[ ]*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^#]*?)(?P<tail>\s+#.*)?\s*$"""
)


def yaml_scalar(value: Scalar) -> str:
    """``value`` as YAML reads it back exactly: true / false, an integer, a float with a point
    (``1.0e-05``, never PyYAML's string ``1e-05``), a double-quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # the shortest text that reads back as this float
        mantissa, e, exponent = text.partition("e")
        if e and "." not in mantissa:
            text = f"{mantissa}.0e{exponent}"
        return text
    return json.dumps(str(value))  # a JSON string is a YAML double-quoted scalar


def _block(lines: list[str], start: int, end: int, parent_indent: int) -> int:
    """The end (exclusive) of the block of lines after ``start`` indented deeper than ``parent_indent``."""
    for i in range(start, end):
        text = lines[i]
        if text.strip() and not text.lstrip().startswith("#") and len(text) - len(text.lstrip()) <= parent_indent:
            return i
    return end


def _locate(lines: list[str], dotted: str) -> tuple[int | None, int, int]:
    """(the line of ``dotted``'s key or None, the last line of its parent's block, the indent of
    the parent's children)."""
    parts = dotted.split(".")
    start, end, indent = 0, len(lines), 0
    for depth, part in enumerate(parts):
        child_indent = None
        found: list[int] = []
        for i in range(start, end):
            m = _LINE.match(lines[i])
            if not m or lines[i].lstrip().startswith("#"):
                continue
            width = len(m["indent"])
            if child_indent is None:
                child_indent = width
            if width == child_indent and m["key"] == part:
                found.append(i)
        if len(found) > 1:
            raise ValueError(f"{'.'.join(parts[: depth + 1])}: written {len(found)} times in the file; keep one")
        if depth == len(parts) - 1:
            last = start - 1
            for i in range(start, end):
                if lines[i].strip() and not lines[i].lstrip().startswith("#"):
                    last = i
            return (found[0] if found else None), last, (indent if child_indent is None else child_indent)
        if not found:
            raise ValueError(f"{'.'.join(parts[: depth + 1])}: no such section in the file")
        m = _LINE.match(lines[found[0]])
        assert m is not None
        if m["value"].strip():
            raise ValueError(f"{'.'.join(parts[: depth + 1])}: not a block section (key: then indented lines)")
        indent = len(m["indent"])
        start = found[0] + 1
        end = _block(lines, start, len(lines), indent)
        indent += 2
    raise AssertionError("unreachable")


def _has(document: Any, dotted: str) -> bool:
    for part in dotted.split("."):
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return True


def _set(lines: list[str], dotted: str, value: Scalar, document: Any) -> None:
    found, last, indent = _locate(lines, dotted)
    text = yaml_scalar(value)
    key = dotted.rsplit(".", 1)[-1]
    if found is None:
        if _has(document, dotted):
            raise ValueError(f"{dotted}: its line is not one this editor can change in place; edit it by hand")
        lines.insert(last + 1, f"{' ' * indent}{key}: {text}")
        return
    m = _LINE.match(lines[found])
    assert m is not None
    old = m["value"]
    if old.strip() in ("", "|", ">") or old.strip()[:1] in ("{", "["):
        raise ValueError(f"{dotted}: a section, block or list value, not a scalar to set")
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


def _parse(text: str, path: Path) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: malformed YAML: {' '.join(str(err).split())}") from None


def edited_text(path: PathLike, values: Mapping[str, Scalar]) -> str:
    """The text of ``path`` with each dotted key of ``values`` set (see the module doc), checked
    to parse to the old document with exactly those values changed; the file is not touched.
    Line endings (LF or CRLF) are kept."""
    path = Path(path)
    with path.open(newline="") as f:
        original = f.read()
    newline = "\r\n" if "\r\n" in original else "\n"
    lines = original.split(newline)
    document = _parse(original, path)
    for dotted, value in values.items():
        _set(lines, dotted, value, document)
    edited = newline.join(lines)
    expected = copy.deepcopy(document)
    for dotted, value in values.items():
        _nested(expected, dotted, value)
    if _parse(edited, path) != expected:
        raise ValueError(f"{path}: editing {', '.join(values)} in place would change more than those keys")
    return edited


def set_values(path: PathLike, values: Mapping[str, Scalar], staged: StagedOutputs | None = None) -> Path:
    """Set each dotted key of ``values`` in the YAML file ``path`` (see the module doc); within a
    caller's ``staged`` block the file lands with the block's other files. ValueError names the
    key that cannot be set; the file is unchanged on any error."""
    path = Path(path)
    text = edited_text(path, values)
    if staged is not None:
        staged.path(path).write_text(text, newline="")
        return path
    with StagedOutputs() as own:
        own.path(path).write_text(text, newline="")
    return path
