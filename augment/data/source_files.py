"""Source manifests: the one file each ``train_classifier@<source>`` stage depends on.

dvc.yaml runs train_classifier once per name in ``classifier.sources``, and DVC cannot compute
a dependency from a name (``classic+cvae`` trains on ``data/synthetic/cvae.pt``). So the stage
that writes a training set also writes, for every source that trains on it
(:func:`augment.params.sources.sources_using`), ``<paths.sources>/<source>.json``::

    {"format": 1, "source": "classic+cvae",
     "synthetic": {"path": "data/synthetic/cvae.pt", "sha256": "..."}}   # null for real, classic

prepare writes the baselines' manifests, sample@<m> the plain and filtered ones, restyle@<m>
the restyle and transfer ones. The hash makes the manifest change whenever its set does, so a
new set reruns exactly the classifiers that train on it, and ``dvc repro train_classifier@real``
trains no generator. The classifier stage checks the hash before it trusts the set.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from augment.core.outputs import StagedOutputs
from augment.data.labeled import DataError
from augment.params.sources import maker_stage, sources_using
from augment.settings.paths import source_manifest, synthetic_file

MANIFEST_FORMAT = 1


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifests(staged: StagedOutputs, params: Any, synthetic: str | None) -> list[Path]:
    """Stage the manifest of every source that trains on ``synthetic`` (a set under
    ``paths.synthetic``, already written to its staged path in ``staged``; ``None`` for the
    baselines). Returns the manifests' final paths."""
    entry = None
    if synthetic is not None:
        final = synthetic_file(params, synthetic)
        entry = {"path": final.as_posix(), "sha256": file_sha256(staged.staged(final))}
    written = []
    for source in sources_using(synthetic):
        out = source_manifest(params, source)
        record = {"format": MANIFEST_FORMAT, "source": source, "synthetic": entry}
        staged.path(out).write_text(json.dumps(record, indent=2) + "\n")
        written.append(out)
    return written


def synthetic_set_of(params: Any, source: str) -> Path | None:
    """The synthetic set a source trains on, as its manifest names it (``None`` for the
    baselines), after checking that the set is the one the manifest was written for.

    Raises DataError naming the manifest and the stage to rerun when the manifest is missing,
    is not this source's, or its set is missing or has changed since.
    """
    path = source_manifest(params, source)
    again = f"run `dvc repro {maker_stage(source)}`"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"{path}: not found; {again} first") from None
    except (OSError, ValueError) as bad:
        raise DataError(f"{path}: unreadable ({bad}); {again}") from None
    if not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT or record.get("source") != source:
        raise DataError(f"{path}: not the manifest of source {source!r} (format {MANIFEST_FORMAT}); {again}")
    entry = record.get("synthetic")
    if entry is None:
        return None
    synthetic = Path(entry["path"])
    if not synthetic.is_file():
        raise DataError(f"{path}: its set {synthetic} is missing; {again}")
    if file_sha256(synthetic) != entry["sha256"]:
        raise DataError(f"{path}: {synthetic} has changed since the manifest was written; {again}")
    return synthetic
