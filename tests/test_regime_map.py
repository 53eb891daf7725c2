"""The regime map (pipelines/regime_map.py, evaluation/regime_map*.py): the cells it plans and the
settings each experiment gets, the two waves against a fake DVC, the cells read back from `dvc exp
show --json`, the CSV, the figure, the verdicts, and the command's errors (one line, exit 2)."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
import torch

from augment.data.labeled import LabeledImages, Splits
from augment.params.config import Params
from evaluation.data_size.points import DataSizeError, Row
from evaluation.regime_map import figure as regime_map_figure
from evaluation.regime_map.cells import (
    Cell,
    Entry,
    cell_settings,
    check_sample_budget,
    default_map_sources,
    entries,
    findings,
    parse_ratios,
    plan_cells,
    select_cells,
)
from pipelines.regime_map import main


def test_plan_cells_size_by_size_with_the_longer_column():
    cells = plan_cells([20, 50], classes=10, ratios=[1, 4, 10], steps=500)
    assert [(c.train_size, c.ratio, c.steps, c.long) for c in cells] == [
        (200, 1.0, 500, False),
        (200, 4.0, 500, False),
        (200, 10.0, 500, False),
        (200, 4.0, 2000, True),
        (500, 1.0, 500, False),
        (500, 4.0, 500, False),
        (500, 10.0, 500, False),
        (500, 4.0, 2000, True),
    ]
    assert [c.train_size for c in plan_cells([20], 10, [1, 4], 500, long_ratio=None)] == [200, 200]
    assert len(plan_cells([20], 10, [1], 500, long_factor=1)) == 1  # x1 is no longer column


def test_cell_settings_are_what_dvc_exp_run_takes():
    cell = Cell(train_size=200, ratio=4.0, steps=2000, per_class=20, long=True)
    assert cell_settings(cell, seeds=5, sources=["real", "classic", "classic+cvaegan-restyle"]) == (
        "data.train_size=200",
        "classifier.synthetic_ratio=4",
        "classifier.steps=2000",
        "classifier.seeds=[0,1,2,3,4]",
        "classifier.sources=['real','classic','classic+cvaegan-restyle']",
    )
    assert cell_settings(Cell(200, 0.5, 500), 2, ["real", "classic"])[1] == "classifier.synthetic_ratio=0.5"


def test_parse_ratios():
    assert parse_ratios("10, 1,4,4") == [1.0, 4.0, 10.0]
    with pytest.raises(DataSizeError, match="--ratios: expected numbers > 0, got 0"):
        parse_ratios("1,0")
    with pytest.raises(DataSizeError, match="got 'x'"):
        parse_ratios("1,x")


def test_sample_budget_names_the_key_and_the_images_needed():
    cells = plan_cells([20, 50], 10, [1, 4, 10], 500)
    check_sample_budget(cells, 10, 500)  # ratio 10 x 50 per class = 500: enough
    with pytest.raises(DataSizeError) as err:
        check_sample_budget(cells, 10, 200)
    assert str(err.value) == (
        "ratio 10 at 500 real images asks for 500 synthetic images per class, more than "
        "sample.per_class=200 makes: add --set sample.per_class=500"
    )


def _entry(source: str, low: float | None, high: float | None) -> Entry:
    mid = None if low is None or high is None else (low + high) / 2
    return Entry(200, 4.0, 500, False, source, 5, 0.9, mid, low, high, "exp", "abc")


def test_verdicts_and_half_width():
    assert _entry("classic+cvaegan", 0.001, 0.021).verdict == "beats classic"
    assert _entry("classic+cvaegan", 0.001, 0.021).half_width == pytest.approx(0.01)
    assert _entry("classic+cvaegan", -0.03, -0.01).verdict == "below classic"
    assert _entry("classic+cvaegan", -0.01, 0.01).verdict == "no measurable difference"
    assert _entry("classic", None, None).verdict == "the bar"
    assert findings([_entry("classic+cvaegan", -0.01, 0.01), _entry("real", -0.1, -0.05)]) == (
        "no cell where a synthetic source beats classical augmentation with its interval above 0 "
        "(half-widths 1.00-1.00 points)"
    )
    assert findings([_entry("classic+cvaegan-transfer", 0.001, 0.021)]) == (
        "beats classical augmentation (interval above 0): classic+cvaegan-transfer at 200 images, ratio 4: "
        "+1.10 [+0.10, +2.10]"
    )


def _delta(size: int, ratio: float, steps: int, source: str) -> float:
    """The fake experiments' difference to classic: only classic+cvaegan-transfer at ratio 10 wins."""
    return 0.02 if (source == "classic+cvaegan-transfer" and ratio == 10) else -0.004 + 0.001 * (size / 100)


def _metrics(params: dict) -> dict:
    size = params["data"]["train_size"]
    c = params["classifier"]
    out = {}
    for source in c["sources"]:
        entry = {"accuracy": 0.9, "real_train_images": size, "accuracy_per_seed": [0.9] * len(c["seeds"])}
        if source == "classic":  # as compare writes it: classic vs real, none vs classic for the baselines
            entry.update(delta_vs_real=0.05, delta_ci_low=0.03, delta_ci_high=0.06)
        elif source != "real":
            d = _delta(size, c["synthetic_ratio"], c["steps"], source)
            entry.update(delta_vs_classic=d, delta_vs_classic_ci_low=d - 0.01, delta_vs_classic_ci_high=d + 0.01)
        out[source] = entry
    return out


def _value(text: str):
    if text.startswith("["):
        return [_value(t) for t in text[1:-1].split(",")] if text != "[]" else []
    text = text.strip("'")
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class FakeDvc:
    """A Runner answering as DVC 3.67 does: `exp run --queue -S ...` queues, `queue start` starts,
    each `queue status` poll finishes the running experiment and starts the next; `exp show
    --json` lists the finished ones with their params and a metrics.json per their sources.
    ``fail``: experiment numbers that fail."""

    def __init__(self, fail: tuple[int, ...] = ()):
        self.calls: list[list[str]] = []
        self.queued: list[tuple[str, dict]] = []
        self.done: dict[str, str] = {}
        self.running: str | None = None
        self.started = False
        self.fail = fail

    def __call__(self, args):
        args = list(args)
        self.calls.append(args)
        out = ""
        if args[:3] == ["exp", "run", "--queue"]:
            params: dict = {"data": {}, "classifier": {}}
            for i, arg in enumerate(args):
                if arg == "-S":
                    key, value = args[i + 1].split("=", 1)
                    node = params
                    *parents, leaf = key.split(".")
                    for p in parents:
                        node = node.setdefault(p, {})
                    node[leaf] = _value(value)
            name = f"exp-{len(self.queued)}"
            self.queued.append((name, params))
            out = f"Queued experiment '{name}' for future execution.\n"
        elif args[:2] == ["queue", "start"]:
            self.started = True
            out = f"Started '{args[-1]}' new experiments task queue worker.\n"
        elif args == ["queue", "status"]:
            if self.started:
                if self.running is not None:
                    number = int(self.running.split("-")[1])
                    self.done[self.running] = "Failed" if number in self.fail else "Success"
                self.running = next((n for n, _ in self.queued if n not in self.done), None)
            lines = ["Task     Name        Created    Status"]
            for i, (name, _) in enumerate(self.queued):
                state = self.done.get(name) or ("Running" if name == self.running else "Queued")
                lines.append(f"{i:07x}  {name:<10}  09:05 AM   {state}")
            out = "\n".join(lines) + f"\n\nWorker status: {int(self.running is not None)} active, 0 idle\n"
        elif args[:3] == ["exp", "show", "--json"]:
            out = json.dumps(self._exp_show())
        else:
            raise AssertionError(f"unexpected dvc call: {args}")
        return subprocess.CompletedProcess(["dvc", *args], 0, out, "")

    def _exp_show(self) -> list:
        experiments = []
        for i, (name, params) in enumerate(self.queued):
            if self.done.get(name) != "Success":
                continue
            data = {
                "rev": f"{i:040x}",
                "timestamp": f"2026-12-03T10:{i:02d}:00",
                "params": {"params.yaml": {"data": params}},
                "metrics": {"reports/metrics.json": {"data": _metrics(params)}},
            }
            experiments.append({"revs": [{"rev": f"{i:040x}", "name": name, "data": data}], "executor": None})
        return [
            {"rev": "workspace", "data": {"timestamp": None, "params": {}, "metrics": {}}, "experiments": None},
            {"rev": "f" * 40, "name": "main", "data": {"timestamp": "2026-12-03T09:00:00"}, "experiments": experiments},
        ]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """params.yaml (500 classifier steps, 500 samples per class) and prepared splits: 10 classes,
    8,000 training images."""
    (tmp_path / "params.yaml").write_text(
        "paths:\n  splits: prepared\nclassifier:\n  steps: 500\nsample:\n  per_class: 500\n"
    )
    train = LabeledImages(torch.zeros(8000, 1, 1, 1), torch.arange(8000) % 10)
    small = LabeledImages(torch.zeros(10, 1, 1, 1), torch.arange(10))
    Splits(train=train, val=small, test=small, classes=[str(i) for i in range(10)]).save(
        tmp_path / "prepared" / "splits.pt"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


# the map's default sources for the fixture's params.yaml (the default classifier.sources)
MAP_SOURCES = default_map_sources(Params().classifier.sources)


def test_default_map_sources_are_the_classic_combinations_the_profile_lists():
    profile = ["cvae", "real", "classic+cvae", "cvae-filtered", "classic", "classic+cfm-restyle", "pseudo"]
    profile += ["classic+pseudo", "classic+cvae"]
    assert default_map_sources(profile) == [
        "real",
        "classic",
        "classic+cvae",
        "classic+cfm-restyle",
        "pseudo",
        "classic+pseudo",
    ]
    # the default profile: every classic+<method> source it lists, whichever model
    assert MAP_SOURCES == [
        "real", "classic", "classic+cvae", "classic+cgan", "classic+cvaegan", "classic+cfm",
        "classic+cvaegan-restyle", "classic+cvaegan-transfer",
    ]  # fmt: skip


def test_run_two_waves_then_the_map(project, capsys):
    dvc = FakeDvc()
    assert main(["run", "--per-class", "20,50", "--poll-seconds", "0", "-S", "cpu_threads=1"], runner=dvc) == 0
    kinds = [" ".join(c[:2]) for c in dvc.calls]
    starts = [i for i, k in enumerate(kinds) if k == "queue start"]
    assert len(starts) == 2
    wave1 = [c for c in dvc.calls[: starts[0]] if c[:2] == ["exp", "run"]]
    assert len(wave1) == 2  # one cell per size, before anything else runs
    first_two = [p for _, p in dvc.queued[:2]]
    assert [(p["data"]["train_size"], p["classifier"]["synthetic_ratio"]) for p in first_two] == [(200, 1), (500, 1)]
    # wave 2 is queued only after wave 1 finished
    assert all(dvc.done.get(n) == "Success" for n, _ in dvc.queued[:2])
    assert len(dvc.queued) == 8
    for call in (c for c in dvc.calls if c[:2] == ["exp", "run"]):
        assert "cpu_threads=1" in call and "classifier.seeds=[0,1,2,3,4]" in call
        assert f"classifier.sources=[{','.join(repr(s) for s in MAP_SOURCES)}]" in call
    long = [p for _, p in dvc.queued if p["classifier"]["steps"] == 2000]
    assert [(p["data"]["train_size"], p["classifier"]["synthetic_ratio"]) for p in long] == [(200, 4), (500, 4)]
    with (project / "reports" / "regime_map.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 * len(MAP_SOURCES)
    wins = [r for r in rows if r["verdict"] == "beats classic"]
    assert {(r["real_train_images"], r["synthetic_ratio"], r["source"]) for r in wins} == {
        ("200", "10", "classic+cvaegan-transfer"),
        ("500", "10", "classic+cvaegan-transfer"),
    }
    one = next(
        r for r in rows if r["source"] == "classic+cvaegan" and r["real_train_images"] == "500" and r["steps"] == "2000"
    )
    assert one["longer_training"] == "1" and float(one["delta_vs_classic"]) == pytest.approx(0.001)
    assert float(one["half_width"]) == pytest.approx(0.01) and one["verdict"] == "no measurable difference"
    classic = next(r for r in rows if r["source"] == "classic")
    assert classic["delta_vs_classic"] == "" and classic["verdict"] == "the bar"
    real = next(r for r in rows if r["source"] == "real")  # classic's delta_vs_real turned round
    assert (float(real["delta_vs_classic"]), float(real["delta_ci_low"]), float(real["delta_ci_high"])) == (
        -0.05,
        -0.06,
        -0.03,
    )
    assert real["verdict"] == "below classic"
    assert (project / "reports" / "regime_map.png").stat().st_size > 0
    out = capsys.readouterr().out
    assert "ratio 4, 4x steps" in out
    assert (
        "beats classical augmentation (interval above 0): classic+cvaegan-transfer at 200 images, ratio 10: +2.00"
        in out
    )
    assert "wave 1 (2, trains the generators), then wave 2 (6)" in out


def test_a_failure_in_wave_one_stops_before_wave_two(project, capsys):
    dvc = FakeDvc(fail=(1,))
    assert main(["run", "--per-class", "20,50", "--poll-seconds", "0"], runner=dvc) == 2
    assert len(dvc.queued) == 2  # wave 2 never queued
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("regime_map: error: 1 of 2 experiments failed: exp-1 (data.train_size=500, ")
    assert "`dvc queue logs exp-1`" in err[0] and "python -m pipelines.regime_map" in err[0]
    assert not (project / "reports").exists()  # nothing half-written


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--per-class", "20", "-S", "classifier.steps=100"], "--set classifier.steps: the map sets it per cell"),
        (["--per-class", "20", "--sources", "real,classic,classic+cvaegan-restyel"], "did you mean"),
        (["--per-class", "20", "--sources", "real,classic+cvaegan"], "must include 'classic'"),
        (["--per-class", "20", "--sources", "real,classic,cgan-restyle"], "cgan"),
        (["--per-class", "20", "--seeds", "1"], "--seeds: an interval needs >= 2 seeds, got 1"),
        (["--per-class", "60"], "ratio 10 at 600 real images asks for 600 synthetic images per class"),
        (["--per-class", "1000"], "more training images than the 8000"),
        (["--per-class", "20", "--ratios", "1,-4"], "--ratios: expected numbers > 0"),
    ],
)
def test_run_errors_are_one_line_and_queue_nothing(project, capsys, argv, message):
    dvc = FakeDvc()
    assert main(["run", *argv], runner=dvc) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("regime_map: error: ") and message in err[0]
    assert dvc.calls == []


def _row(name: str, size: int, ratio: float, steps: int, timestamp: str, status: str = "ok", mode="ratio") -> Row:
    setup = ('"mnist"', "null", "null", json.dumps(mode))  # SAME_SETUP, JSON-encoded
    params = {"classifier": {"synthetic_ratio": ratio, "steps": steps, "seeds": [0, 1, 2, 3, 4]}}
    sources = {"classic": {"accuracy": 0.9}, "classic+cvaegan": {"accuracy": 0.91, "delta_vs_classic": 0.01}}
    return Row(name, name, "experiment", timestamp, status, float(size), size, sources, setup, params)


def test_select_cells_newest_wins_and_skips_are_reported():
    rows = [
        _row("old", 200, 4, 500, "2026-12-01T00:00:00"),
        _row("new", 200, 4, 500, "2026-12-02T00:00:00"),
        _row("long", 200, 4, 2000, "2026-12-02T00:00:00"),
        _row("waiting", 200, 10, 500, "2026-12-02T00:00:00", status="queued"),
        _row("other", 200, 1, 500, "2026-12-02T00:00:00", mode="top_up"),
    ]
    found, notes = select_cells(rows, base_steps=500)
    assert [(f.row.name, f.cell.long, f.seeds) for f in found] == [("new", False, 5), ("long", True, 5)]
    assert "skipped waiting (queued)" in notes
    assert "skipped other (another setup: classifier.synthetic_mode=top_up)" in notes
    assert any("kept new, dropped old" in n for n in notes)
    table = entries(found, sources=["classic+cvaegan", "classic"])
    assert [(e.source, e.delta_vs_classic) for e in table][:2] == [("classic+cvaegan", 0.01), ("classic", None)]


def test_collect_from_json_and_without_results(project, capsys, tmp_path):
    dvc = FakeDvc()
    assert (
        main(["run", "--per-class", "20", "--ratios", "1", "--long-ratio", "none", "--poll-seconds", "0"], runner=dvc)
        == 0
    )
    saved = tmp_path / "exp.json"
    saved.write_text(json.dumps(dvc._exp_show()))
    capsys.readouterr()
    assert main(["--from-json", str(saved), "--out", "m.png", "--csv", "m.csv"]) == 0
    assert (project / "m.png").is_file() and len((project / "m.csv").read_text().splitlines()) == 1 + len(MAP_SOURCES)
    saved.write_text(json.dumps(FakeDvc()._exp_show()))
    assert main(["collect", "--from-json", str(saved)]) == 2
    assert "no experiment with reports/metrics" in capsys.readouterr().err


def test_figure_has_one_panel_per_size_and_a_marker_per_source(tmp_path, monkeypatch):
    drawn = []
    real_errorbar = regime_map_figure.plt.Axes.errorbar

    def spy(self, xs, ys, **kwargs):
        drawn.append((self, kwargs.get("label"), list(ys)))
        return real_errorbar(self, xs, ys, **kwargs)

    monkeypatch.setattr(regime_map_figure.plt.Axes, "errorbar", spy)
    rows = [
        Entry(size, ratio, 500, False, source, 5, 0.9, d, d - 0.01, d + 0.01, "e", "r")
        for size in (200, 500)
        for ratio in (1.0, 4.0)
        for source, d in (("real", -0.05), ("classic+cvaegan", 0.002))
    ] + [Entry(200, 1.0, 500, False, "classic", 5, 0.9, None, None, None, "e", "r")]
    regime_map_figure.plot_regime_map(rows, tmp_path / "map.png", base_steps=500)
    assert (tmp_path / "map.png").stat().st_size > 0
    titles = {ax.get_title() for ax, _, _ in drawn}  # set after the markers are drawn
    assert len(drawn) == 4 and titles == {"200 real training images", "500 real training images"}
    assert [ys for _, label, ys in drawn if label and "classic" in label.lower()][0] == pytest.approx([0.2, 0.2])
