"""All-or-nothing output files for commands and stages.

A command that writes several files (a synthetic dataset and its grid; a classifier's weights,
predictions, results and figure) must not leave some of them behind when it fails or is
interrupted half way: a later stage, or the user, would trust a half-finished result.
:class:`StagedOutputs` hands out temporary paths next to the final ones; the files are renamed
into place (``os.replace``, atomic per file) only when the whole block succeeded, and removed
otherwise, so the final paths either keep their previous content or get the complete new one::

    with StagedOutputs() as staged:
        save_synthetic(staged.path(out), images, labels, classes)
        save_grid(images, staged.path(grid), 10)
    # here both files are in place; on an exception neither was touched

Temporary names carry the writer's pid (``.<name>.partial-<pid>-<n><suffix>``, the suffix kept
so that PIL and matplotlib still infer the format); leftovers of a killed process (SIGKILL runs
no cleanup) are removed the next time a file is staged in the same folder.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import torch

PathLike = Union[str, "os.PathLike[str]"]

_PARTIAL = re.compile(r"^\..+\.partial-(\d+)-")


class OutputError(ValueError):
    """An output path that cannot be written (a folder where a file is meant, a file where a
    folder is needed, no permission): the message names the path."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_partials(folder: Path) -> None:
    """Delete ``.*.partial-<pid>-*`` files and folders of processes that no longer exist."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match and not _pid_alive(int(match.group(1))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def check_writable_file(path: PathLike, what: str = "output") -> Path:
    """Fail early, before any work, when ``path`` cannot become a file: it is a folder, or a
    parent of it is a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{what} {path}: {parent} is a file, not a folder")
            break
    return path


def _file_mode() -> int:
    """The mode a new file gets from ``open``: 0o666 less the process's umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _cannot_write(final: Path, err: OSError) -> OutputError:
    """An OSError met while writing ``final`` through a temporary file, as a one-line error that
    names the path the user gave, not the temporary one."""
    return OutputError(f"cannot write {final}: {err.strerror or err}")


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same folder (fsynced) and an
    atomic rename: a crash or a kill during the save leaves the previous file intact. The file
    gets the mode any new file would (``mkstemp`` makes it 0600: private whatever the umask)."""
    path = check_writable_file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.partial-{os.getpid()}-", suffix=path.suffix, dir=path.parent)
    except OSError as err:
        raise _cannot_write(path, err) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _file_mode())
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(path, err) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: PathLike, header: Sequence[str], rows: Iterable[Sequence[Any] | Mapping[str, Any]]) -> Path:
    """A CSV table: the ``header`` row, then one line per row (a sequence in header order, or a
    mapping read by the header's names), written to a temporary file renamed into place, so a
    reader never sees half a table. Within a :class:`StagedOutputs` block pass ``staged.path(...)``.
    Parent folders are created. Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with StagedOutputs() as staged:
        with staged.path(path).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for row in rows:
                writer.writerow([row.get(k, "") for k in header] if isinstance(row, Mapping) else row)
    return path


class StagedOutputs:
    """Temporary paths for a block's outputs, committed together on success (see module doc)."""

    def __init__(self) -> None:
        self._files: list[tuple[Path, Path]] = []  # (temporary, final)
        self._folders: list[tuple[Path, Path]] = []
        self._created: list[Path] = []  # parent folders this block made (removed on failure)
        self._count = 0

    def _parent(self, final: Path) -> None:
        missing = [p for p in [final.parent, *final.parent.parents] if not p.exists()]
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the folder of {final}: {err.strerror or err}") from None
        self._created.extend(missing)  # deepest first
        remove_stale_partials(final.parent)

    def _temporary(self, final: Path) -> Path:
        self._count += 1
        return final.with_name(f".{final.stem}.partial-{os.getpid()}-{self._count}{final.suffix}")

    def path(self, final: PathLike) -> Path:
        """A temporary file path that becomes ``final`` on commit."""
        final = check_writable_file(final)
        self._parent(final)
        tmp = self._temporary(final)
        self._files.append((tmp, final))
        return tmp

    def staged(self, final: PathLike) -> Path:
        """The temporary file already handed out for ``final`` by :meth:`path` (to read back what
        this block wrote, e.g. to hash it); ValueError when none was."""
        final = Path(final)
        for tmp, target in reversed(self._files):
            if target == final:
                return tmp
        raise ValueError(f"{final} has not been staged in this block")

    def folder(self, final: PathLike) -> Path:
        """A temporary folder whose files are moved into ``final`` (created if needed) on commit;
        files already in ``final`` that this block does not write are left alone."""
        final = Path(final)
        if final.exists() and not final.is_dir():
            raise OutputError(f"output {final} is a file; a folder is needed there")
        self._parent(final)
        tmp = self._temporary(final)
        tmp.mkdir()
        self._folders.append((tmp, final))
        return tmp

    def commit(self) -> None:
        """Move every staged file into place (one ``os.replace`` each)."""
        for tmp, final in self._files:
            if tmp.exists():
                try:
                    os.replace(tmp, final)
                except OSError as err:
                    raise _cannot_write(final, err) from None
        for tmp, final in self._folders:
            for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
                target = final / file.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
            shutil.rmtree(tmp, ignore_errors=True)
        self._files, self._folders, self._created = [], [], []

    def discard(self) -> None:
        """Remove every temporary file and the folders this block created."""
        for tmp, _ in self._files:
            tmp.unlink(missing_ok=True)
        for tmp, _ in self._folders:
            shutil.rmtree(tmp, ignore_errors=True)
        for folder in sorted(set(self._created), key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()  # only if empty
            except OSError:
                pass
        self._files, self._folders, self._created = [], [], []

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        renamed = self._naming_finals(exc)
        self.discard()
        if renamed is not None:
            raise renamed from None

    def _naming_finals(self, exc: BaseException | None) -> OutputError | None:
        """A writer's failure on a temporary path, as an OutputError that names the final path
        the user gave instead (None: ``exc`` names no temporary path)."""
        if isinstance(exc, OSError) and exc.filename is not None:
            for tmp, final in self._files:
                if Path(exc.filename) == tmp:
                    return _cannot_write(final, exc)
        if isinstance(exc, OutputError):
            text, hit = str(exc), False
            for tmp, final in self._files:
                if str(tmp) in text:
                    text, hit = text.replace(str(tmp), str(final)), True
            return OutputError(text) if hit else None
        return None
