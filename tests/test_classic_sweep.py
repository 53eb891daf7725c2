"""The classic sweep: known answers on drawn data (flips kept where mirroring keeps the class,
dropped where it changes it), the search's rules, the validation split alone, the record the
report reads, writing params in place, and bad options as one line with exit code 2."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
import yaml

from augment.data.labeled import LabeledImages, Splits
from augment.params.config import AugmentationConfig, ClassifierConfig, ConfigError, DataConfig
from augment.params.edit import set_values
from augment.params.file import load_params
from evaluation.classic_sweep.axes import (
    DEFAULT_AXES,
    JITTER,
    axes_named,
    current_value,
    describe,
    parse_values,
    with_value,
)
from evaluation.classic_sweep.measure import Validation, halves
from evaluation.classic_sweep.record import data_description, origin, record
from evaluation.classic_sweep.search import NONE, START, sweep
from pipelines import classic_sweep

ROOT = Path(__file__).resolve().parents[1]
PLAIN = AugmentationConfig(degrees=0, translate=0, scale_min=1, scale_max=1, erasing=0, hflip=0, vflip=0)
TINY = ClassifierConfig(seeds=[0], steps=60, width=8, batch_size=32, lr=0.003)


# --------------------------------------------------------------------------------------------
# Drawn data: a bar on one side and a dot on the other, 12x12
# --------------------------------------------------------------------------------------------


def _draw(n: int, classes: list[tuple[int, bool]], g: torch.Generator) -> LabeledImages:
    """``classes[k] = (bar, mirrored)``: class k's images have a vertical bar ``bar`` pixels long
    at the left (columns 1-2) and a dot on the right (columns 8-9), each at a random height;
    ``mirrored`` flips the image left to right. Labels are k."""
    images, labels = [], []
    for i in range(n):
        k = i % len(classes)
        bar, mirrored = classes[k]
        x = 0.05 * torch.rand(1, 12, 12, generator=g)  # [1, 12, 12] faint noise
        top = int(torch.randint(0, 12 - bar + 1, (1,), generator=g))
        x[0, top : top + bar, 1:3] = 1.0  # the bar
        r = int(torch.randint(1, 10, (1,), generator=g))
        x[0, r : r + 2, 8:10] = 1.0  # the dot
        images.append(x.flip(-1) if mirrored else x)
        labels.append(k)
    return LabeledImages(torch.stack(images), torch.tensor(labels))


def _measure(train: LabeledImages, val: LabeledImages) -> Validation:
    return Validation(train, val, 2, TINY, seeds=[0, 1], split_seed=0)


def test_where_mirroring_keeps_the_class_the_sweep_keeps_flips():
    g = torch.Generator().manual_seed(0)
    # class 0: a short bar, drawn on the left; class 1: a long bar, drawn on the right. The class is
    # the bar's length, whatever the side: the validation split has each class both ways, the
    # training split only one, so the side is a shortcut that only flips take away
    train = _draw(64, [(4, False), (9, True)], g)
    val_straight, val_mirrored = _draw(32, [(4, False), (9, True)], g), _draw(32, [(4, True), (9, False)], g)
    val = LabeledImages(
        torch.cat([val_straight.images, val_mirrored.images]), torch.cat([val_straight.labels, val_mirrored.labels])
    )
    result = sweep(PLAIN, axes_named(["hflip"]), _measure(train, val))
    assert result.winner.config.hflip == 0.5
    assert result.winner.mean >= result.reference.mean + 0.2  # mirrored half: from chance to right


def test_where_mirroring_changes_the_class_the_sweep_drops_flips():
    g = torch.Generator().manual_seed(1)
    # class 0 and class 1 are each other's mirror image: a flip turns one into the other
    classes = [(6, False), (6, True)]
    train, val = _draw(64, classes, g), _draw(64, classes, g)
    start = dataclasses.replace(PLAIN, hflip=0.5)  # a bar that mirrors: the sweep must take it back
    result = sweep(start, axes_named(["hflip"]), _measure(train, val))
    assert result.winner.config.hflip == 0.0
    start_trial = next(t for t in result.trials if t.axis == START)
    assert result.winner.mean >= start_trial.mean + 0.2


# --------------------------------------------------------------------------------------------
# The search
# --------------------------------------------------------------------------------------------


def _scored(peaks: dict[str, float]):
    """A measure whose accuracy falls with the distance of each field from ``peaks``; counts calls."""
    calls: list[AugmentationConfig] = []

    def measure(cfg: AugmentationConfig) -> list[float]:
        calls.append(cfg)
        loss = sum(abs(getattr(cfg, k) - v) / (1 + v) for k, v in peaks.items())
        return [0.9 - 0.01 * loss + 0.001 * s for s in range(3)]

    return measure, calls


def test_coordinate_ascent_finds_each_axis_best_and_measures_each_setting_once():
    measure, calls = _scored({"degrees": 10.0, "translate": 0.1, "hflip": 0.0, "erasing": 0.25})
    result = sweep(AugmentationConfig(), DEFAULT_AXES, measure)
    w = result.winner.config
    assert (w.degrees, w.translate, w.hflip, w.erasing) == (10.0, 0.1, 0.0, 0.25)
    keys = [tuple(dataclasses.astuple(c)) for c in calls]
    assert len(keys) == len(set(keys)) == len(result.trials)  # none measured twice
    assert result.trials[0].axis == NONE and result.trials[1].axis == START
    # 1 reference + 1 start + every axis's candidates but its incumbent
    assert len(result.trials) <= 2 + sum(len(a.values) - 1 for a in DEFAULT_AXES)
    assert result.runner_up is not None and result.runner_up is not result.winner
    assert result.delta is not None and result.delta["n"] == 3


def test_a_tie_keeps_the_incumbent():
    result = sweep(AugmentationConfig(), axes_named(["hflip", "degrees"]), lambda cfg: [0.8, 0.81])
    assert result.winner.config == AugmentationConfig()  # nothing beat the start strictly


# --------------------------------------------------------------------------------------------
# The validation split alone
# --------------------------------------------------------------------------------------------


def test_halves_split_each_class_of_the_validation_split_and_nothing_else(digits):
    select, measure = halves(digits.val, seed=0)
    assert len(select) + len(measure) == len(digits.val)
    both = torch.cat([select.images, measure.images]).flatten(1).tolist()
    assert sorted(map(tuple, both)) == sorted(map(tuple, digits.val.images.flatten(1).tolist()))  # each image once
    for c in range(10):
        assert (select.labels == c).sum() >= 1 and (measure.labels == c).sum() >= 1
    tiny = LabeledImages(digits.val.images[:3], torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="1 image of class 1: the classic sweep needs at least 2 of each class"):
        halves(tiny, seed=0)


class _Untouchable:
    """A test split that fails the test when anything reads it."""

    def __getattr__(self, name):
        raise AssertionError(f"the sweep read the test split ({name})")

    def __len__(self):
        raise AssertionError("the sweep read the test split (len)")


def _project(tmp_path: Path, monkeypatch, digits) -> Path:
    """A params.yaml (the repository's, comments and all) with a tiny classifier, in ``tmp_path``;
    the splits handed to the command carry a test split that fails the test when read."""
    text = (ROOT / "params.yaml").read_text()
    params = tmp_path / "params.yaml"
    params.write_text(text)
    set_values(params, {"classifier.steps": 60, "classifier.width": 8, "device": "cpu", "cpu_threads": 1})
    monkeypatch.chdir(tmp_path)
    guarded = Splits(train=digits.train, val=digits.val, test=_Untouchable(), classes=digits.classes)  # type: ignore[arg-type]
    monkeypatch.setattr(classic_sweep, "load_splits", lambda data: guarded)
    return params


SMALL = ["--axes", "hflip,degrees", "--degrees", "0,5", "--seeds", "2"]


def test_the_command_prints_the_overrides_and_leaves_params_alone(tmp_path, monkeypatch, capsys, digits):
    params = _project(tmp_path, monkeypatch, digits)
    before = params.read_text()
    assert classic_sweep.main(SMALL) == 0
    out = capsys.readouterr().out
    assert params.read_text() == before
    assert "| # | varied | setting | validation accuracy [95% CI] |" in out
    assert "winner " in out and " vs runner-up " in out and "paired over 2 seeds" in out
    assert "dvc exp run " in out and "-S 'augmentation.swept=" in out
    rows = (tmp_path / "reports/classic_sweep.csv").read_text().splitlines()
    trials = sum(1 for line in out.splitlines() if line.startswith("| ")) - 1  # less the header row
    assert rows[0].startswith("trial,varied,setting,degrees,") and len(rows) == 1 + 2 * trials  # 2 seeds each


def test_write_puts_the_winner_and_its_record_into_params_comments_kept(tmp_path, monkeypatch, capsys, digits):
    params = _project(tmp_path, monkeypatch, digits)
    before = params.read_text().splitlines()
    assert classic_sweep.main([*SMALL, "--write"]) == 0
    after = params.read_text().splitlines()
    assert len(after) == len(before)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    keys = {"degrees", "translate", "scale_min", "scale_max", "erasing", "hflip", "vflip", "swept"}
    assert changed and all(b.split(":")[0].strip() in keys for _, b in changed)
    assert all(("#" in a) == ("#" in b) for a, b in changed)  # each line's comment kept
    loaded = load_params(params)
    assert origin(loaded.data, loaded.augmentation).startswith("swept on this data's validation split (2 seeds")
    # the printed winner is what was written
    winner_line = next(line for line in capsys.readouterr().out.splitlines() if "winner " in line)
    assert f"winner {describe(loaded.augmentation)} (" in winner_line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--degrees", "0,400"], "--degrees 400: augmentation.degrees: must be a number of degrees in [0, 180]"),
        (["--zoom", "1.5"], "--zoom 1.5: must be a zoom half-width in [0, 1)"),
        (["--hflip", "half"], "--hflip: expected numbers separated by commas, got 'half'"),
        (["--erasing", "-0.1"], "--erasing -0.1: augmentation.erasing: must be a probability in [0, 1]"),
        (["--seeds", "1"], "--seeds: an interval needs >= 2 seeds, got 1"),
        (["--axes", "hflip,shear"], "--axes: unknown axis 'shear'"),
        (["-S", "augmentation.degree=3"], "augmentation.degree"),
        (["--csv", "."], "--csv . is a folder"),
    ],
)
def test_bad_options_are_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, digits, argv, message):
    params = _project(tmp_path, monkeypatch, digits)
    before = params.read_text()
    assert classic_sweep.main([*SMALL, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert params.read_text() == before and not (tmp_path / "reports").exists()


# --------------------------------------------------------------------------------------------
# The record and the report's words
# --------------------------------------------------------------------------------------------


def test_the_report_says_whether_the_bar_was_swept_on_this_data():
    data, cfg = DataConfig(), AugmentationConfig(degrees=10)
    assert origin(data, cfg).startswith("not swept on this data")
    swept = dataclasses.replace(cfg, swept=record(data, cfg, 3))
    assert origin(data, swept) == (
        "swept on this data's validation split (3 seeds a setting, python -m pipelines.classic_sweep)"
    )
    assert origin(dataclasses.replace(data, seed=1), swept).startswith("swept on other data (digits,")
    assert origin(data, dataclasses.replace(swept, degrees=5)).startswith("edited after the sweep")
    assert "not a record the sweep writes" in origin(data, dataclasses.replace(cfg, swept="by hand"))
    assert "labelled 100" in data_description(dataclasses.replace(data, labelled=100))


def test_colour_jitter_is_swept_on_rgb_data_only_unless_named():
    args = classic_sweep._parser().parse_args([])
    assert JITTER not in [a.name for a in classic_sweep._axes(args, 1)]
    assert [a.name for a in classic_sweep._axes(args, 3)][-1] == JITTER
    named = classic_sweep._parser().parse_args(["--axes", "jitter"])
    assert [a.name for a in classic_sweep._axes(named, 1)] == [JITTER]
    jitter = next(a for a in DEFAULT_AXES if a.name == JITTER)
    cfg = with_value(AugmentationConfig(), jitter, 0.4)
    assert (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue) == (0.4, 0.4, 0.4, 0.1)
    assert current_value(cfg, jitter) == 0.4 and describe(cfg).endswith("jitter 0.4/0.4/0.4/0.1")


def test_parse_values_sorts_and_drops_duplicates():
    degrees = next(a for a in DEFAULT_AXES if a.name == "degrees")
    assert parse_values(degrees, "10, 0,10,5").values == (0.0, 5.0, 10.0)
    zoom = next(a for a in DEFAULT_AXES if a.name == "zoom")
    assert zoom.settings(0.1) == {"scale_min": 0.9, "scale_max": 1.1}
    with pytest.raises(ConfigError, match="--vflip 2: augmentation.vflip"):
        parse_values(next(a for a in DEFAULT_AXES if a.name == "vflip"), "0,2")


# --------------------------------------------------------------------------------------------
# Setting values in a params file in place
# --------------------------------------------------------------------------------------------


PARAMS_TEXT = """# a comment
data:
  seed: 0                # fixes every split
  imbalance:
    keep: 0.05           # share kept

augmentation:            # classical augmentation
  degrees: 5             # rotation
  swept: ""              # the record

device: auto
"""


def test_set_values_replaces_values_keeps_comments_and_adds_missing_keys(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_TEXT)
    set_values(
        path,
        {"augmentation.degrees": 12.5, "augmentation.swept": "a | b", "augmentation.vflip": 0.5,
         "data.imbalance.keep": 0.1, "device": "cpu"},
    )  # fmt: skip
    text = path.read_text()
    assert "  degrees: 12.5          # rotation\n" in text  # the comment's column kept
    assert '  swept: "a | b"         # the record\n' in text
    assert "    keep: 0.1            # share kept\n" in text
    assert "  vflip: 0.5\n" in text.split("augmentation:")[1].split("device:")[0]
    assert text.startswith("# a comment\ndata:\n  seed: 0                # fixes every split\n")
    loaded = yaml.safe_load(text)
    assert loaded["augmentation"] == {"degrees": 12.5, "swept": "a | b", "vflip": 0.5}
    assert loaded["device"] == "cpu" and loaded["data"] == {"seed": 0, "imbalance": {"keep": 0.1}}


def test_set_values_keeps_crlf_quoted_hashes_and_exact_floats(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b'augmentation:\r\n  degrees: 5  # rot\r\n  swept: "a #1"  # c\r\n')
    set_values(
        path, {"augmentation.degrees": 0.1234567, "augmentation.swept": "b | c#d", "augmentation.erasing": 1e-05}
    )
    raw = path.read_bytes()
    assert raw.count(b"\r\n") == 4 and b"\n" not in raw.replace(b"\r\n", b"")  # one line added, CRLF too
    assert b'  swept: "b | c#d" # c\r\n' in raw and b"  erasing: 1.0e-05\r\n" in raw
    assert yaml.safe_load(raw) == {"augmentation": {"degrees": 0.1234567, "swept": "b | c#d", "erasing": 1e-05}}


@pytest.mark.parametrize(
    "text, message",
    [
        ("augmentation:\n  hflip: 0\n  hflip: 1\n", "augmentation.hflip: written 2 times"),
        ("augmentation:\n  hflip : 0\n", "augmentation.hflip: its line is not one this editor can change"),
        ("augmentation: {hflip: 0}\n", "augmentation: not a block section"),
        ("augmentation:\n  hflip: [0\n", "malformed YAML"),
    ],
)
def test_set_values_refuses_what_it_cannot_place_exactly(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(message)):
        set_values(path, {"augmentation.hflip": 0.5})
    assert path.read_text() == text


def test_write_refuses_overrides_the_file_would_not_hold(tmp_path, monkeypatch, capsys, digits):
    params = _project(tmp_path, monkeypatch, digits)
    before = params.read_text()
    assert classic_sweep.main([*SMALL, "--write", "-S", "augmentation.degrees=3"]) == 2
    assert "--write with --set augmentation.degrees" in capsys.readouterr().err
    assert params.read_text() == before and not (tmp_path / "reports").exists()


def test_set_values_refuses_a_missing_section_and_leaves_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_TEXT)
    with pytest.raises(ValueError, match="classifier: no such section in the file"):
        set_values(path, {"augmentation.degrees": 1.0, "classifier.steps": 3})
    with pytest.raises(ValueError, match="data.imbalance: a section, block or list value"):
        set_values(path, {"data.imbalance": 3})
    assert path.read_text() == PARAMS_TEXT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_classifier_stages_take_every_augmentation_field_but_the_record():
    """A sweep that only rewrites its record reruns no classifier; a new augmentation field must
    still rerun them (dvc.yaml lists the fields one by one)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    fields = {f"augmentation.{f.name}" for f in dataclasses.fields(AugmentationConfig) if f.name != "swept"}
    for stage in (stages["train_classifier"]["do"], stages["pseudo_label"]):
        listed = {p for p in stage["params"] if isinstance(p, str) and p.startswith("augmentation")}
        assert listed == fields
    assert "augmentation" in stages["compare"]["params"]  # the report reads the record
