"""Source manifests (augment/data/source_files.py): what each train_classifier@<source> depends on."""

from __future__ import annotations

import json

import pytest
import torch

from augment.core.outputs import StagedOutputs
from augment.data.labeled import DataError
from augment.data.source_files import file_sha256, synthetic_set_of, write_manifests
from augment.params.sources import SOURCES, maker_stage, sources_using
from augment.settings.paths import source_manifest, synthetic_file
from augment.synthesis.synthetic_files import save_synthetic
from tests.conftest import tiny_params

CLASSES = [str(c) for c in range(10)]


def test_every_source_uses_exactly_one_set_and_has_a_maker():
    sets = [
        None,
        "cvae",
        "cgan",
        "cvaegan",
        "cvae-filtered",
        "cgan-filtered",
        "cvaegan-filtered",
        "cvae-restyle",
        "cvae-transfer",
        "cvaegan-restyle",
        "cvaegan-transfer",
        "cfm",
        "cfm-filtered",
        "cfm-restyle",
        "cfm-transfer",
    ]
    covered = [s for name in sets for s in sources_using(name)]
    assert sorted(covered) == sorted(SOURCES)  # each source once, no set left out
    assert sources_using(None) == ("real", "classic")
    assert sources_using("cgan") == ("cgan", "classic+cgan")
    assert sources_using("cvaegan-transfer") == ("cvaegan-transfer", "classic+cvaegan-transfer")
    assert sources_using("cgan-restyle") == ()  # the CGAN has no encoder
    assert [
        maker_stage(s)
        for s in ("real", "classic", "classic+cgan", "cvae-filtered", "classic+cvaegan-restyle", "cfm-transfer")
    ] == ["prepare", "prepare", "sample@cgan", "sample@cvae", "restyle@cvaegan", "restyle@cfm"]


def _write_set(params, name: str, fill: float) -> None:
    labels = torch.arange(20) % 10
    with StagedOutputs() as staged:
        save_synthetic(staged.path(synthetic_file(params, name)), torch.full((20, 1, 8, 8), fill), labels, CLASSES)
        written = write_manifests(staged, params, name)
    assert written == [source_manifest(params, s) for s in sources_using(name)]


def test_manifests_name_the_set_and_its_hash(tmp_path):
    params = tiny_params(tmp_path)
    _write_set(params, "cvae", 0.5)
    path = synthetic_file(params, "cvae")
    for source in ("cvae", "classic+cvae"):
        record = json.loads(source_manifest(params, source).read_text())
        assert record == {
            "format": 1,
            "source": source,
            "synthetic": {"path": path.as_posix(), "sha256": file_sha256(path)},
        }
        assert synthetic_set_of(params, source) == path
    assert not list(tmp_path.rglob("*.partial*"))


def test_a_new_set_changes_its_manifests_and_no_other(tmp_path):
    params = tiny_params(tmp_path)
    _write_set(params, "cvae", 0.5)
    _write_set(params, "cgan", 0.5)
    before = {s: source_manifest(params, s).read_bytes() for s in ("cvae", "classic+cvae", "cgan")}
    _write_set(params, "cvae", 0.25)
    assert source_manifest(params, "cvae").read_bytes() != before["cvae"]
    assert source_manifest(params, "classic+cvae").read_bytes() != before["classic+cvae"]
    assert source_manifest(params, "cgan").read_bytes() == before["cgan"]  # its classifiers do not rerun


def test_baselines_have_no_set(tmp_path):
    params = tiny_params(tmp_path)
    with StagedOutputs() as staged:
        write_manifests(staged, params, None)
    assert synthetic_set_of(params, "real") is None and synthetic_set_of(params, "classic") is None


def test_a_set_changed_behind_the_manifest_is_refused(tmp_path):
    params = tiny_params(tmp_path)
    _write_set(params, "cvae", 0.5)
    save_synthetic(synthetic_file(params, "cvae"), torch.zeros(20, 1, 8, 8), torch.arange(20) % 10, CLASSES)
    with pytest.raises(
        DataError, match=r"cvae\.pt has changed since the manifest was written; run `dvc repro sample@cvae`"
    ):
        synthetic_set_of(params, "classic+cvae")


def test_missing_or_foreign_manifest_names_the_stage(tmp_path):
    params = tiny_params(tmp_path)
    with pytest.raises(
        DataError, match=r"classic\+cvaegan-restyle\.json: not found; run `dvc repro restyle@cvaegan` first"
    ):
        synthetic_set_of(params, "classic+cvaegan-restyle")
    _write_set(params, "cvae", 0.5)
    source_manifest(params, "classic+cvae").write_text(source_manifest(params, "cvae").read_text())
    with pytest.raises(DataError, match="not the manifest of source 'classic\\+cvae'"):
        synthetic_set_of(params, "classic+cvae")
    source_manifest(params, "cvae").write_text("{not json")
    with pytest.raises(DataError, match=r"cvae\.json: unreadable"):
        synthetic_set_of(params, "cvae")


def test_staged_returns_the_temporary_path_of_a_staged_file(tmp_path):
    with StagedOutputs() as staged:
        tmp = staged.path(tmp_path / "a.txt")
        assert staged.staged(tmp_path / "a.txt") == tmp
        with pytest.raises(ValueError, match="has not been staged"):
            staged.staged(tmp_path / "b.txt")
        tmp.write_text("x")
    assert (tmp_path / "a.txt").read_text() == "x"
