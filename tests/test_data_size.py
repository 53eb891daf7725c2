"""Value vs data size (pipelines/data_size.py and the evaluation/data_size_*.py, evaluation/data_size/queue.py
modules): parsing `dvc exp show --json`, one point per size, skipped and dropped rows, the figure
(panels, one line per source) and CSV, the command's errors, and the `run` command (queue, start,
wait, collect) against a fake DVC.

The documents below are real `dvc exp show --json` output of DVC 3.67, trimmed (deps, outs and most
metrics keys removed, numbers rounded): FINISHED is the recipe of docs/data_size.md after
`dvc queue start` finished (4 sizes, dvc.lock not committed so the baseline has no metrics);
IN_PROGRESS is the same queue while the first experiment ran, plus one failed queued experiment
captured from a scratch repository. QUEUE_STATUS is `dvc queue status` of DVC 3.67 in a scratch
repository (names and times changed); the fake DVC of the `run` tests prints the same format.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from augment.data.labeled import LabeledImages, Splits
from augment.params.config import GENERATOR_NAMES
from augment.params.sources import SOURCES
from evaluation.data_size import figure as data_size_figure
from evaluation.data_size import queue as dvc_queue
from evaluation.data_size.figure import (
    CSV_HEADER,
    format_table,
    panel_layout,
    plot_data_size,
    source_style,
    write_points,
)
from evaluation.data_size.points import DataSizeError, parse_exp_show, select_points, sources_of
from evaluation.data_size.queue import parse_queue_status
from evaluation.report.figures import BASELINE_COLORS, PALETTE, method_color
from pipelines.data_size import main

FINISHED = json.loads(r"""
[
 {
  "rev": "workspace",
  "name": null,
  "data": {
   "rev": "workspace",
   "timestamp": null,
   "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}},
   "metrics": {
    "reports/metrics.json": {
     "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
    }
   }
  },
  "error": null,
  "experiments": null
 },
 {
  "rev": "6f9de849cfd0f932da5cb7ebf78b173e8e87f1a8",
  "name": "main",
  "data": {
   "rev": "6f9de849cfd0f932da5cb7ebf78b173e8e87f1a8",
   "timestamp": "2026-11-26T16:20:49",
   "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}},
   "metrics": {
    "reports/metrics.json": {
     "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
    }
   }
  },
  "error": null,
  "experiments": [
   {
    "revs": [
     {
      "rev": "25ade37a163cc7b390c696dc98417bbb10b2cfda",
      "name": "unfit-omer",
      "data": {
       "rev": "25ade37a163cc7b390c696dc98417bbb10b2cfda",
       "timestamp": "2026-11-26T16:37:58",
       "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}},
       "metrics": {
        "reports/metrics.json": {
         "data": {
          "real": {"accuracy": 0.9638, "accuracy_ci_low": 0.9272, "accuracy_ci_high": 1.0004, "train_images": 1294, "real_train_images": 1294},
          "cvae": {"accuracy": 0.9601, "accuracy_ci_low": 0.9427, "accuracy_ci_high": 0.9775, "train_images": 2588, "real_train_images": 1294, "delta_vs_real": -0.0037, "verdict": "no measurable effect"},
          "cgan": {"accuracy": 0.9582, "accuracy_ci_low": 0.9399, "accuracy_ci_high": 0.9765, "train_images": 2588, "real_train_images": 1294, "delta_vs_real": -0.0056, "verdict": "no measurable effect"},
          "cvaegan": {"accuracy": 0.9573, "accuracy_ci_low": 0.9533, "accuracy_ci_high": 0.9613, "train_images": 2588, "real_train_images": 1294, "delta_vs_real": -0.0065, "verdict": "no measurable effect"}
         }
        }
       }
      },
      "error": null
     }
    ],
    "executor": {"state": "success"},
    "name": "unfit-omer"
   },
   {
    "revs": [
     {
      "rev": "a6e0fd3b3d42289dbe0435ac7417b7a52bbdc6b1",
      "name": "girly-heck",
      "data": {
       "rev": "a6e0fd3b3d42289dbe0435ac7417b7a52bbdc6b1",
       "timestamp": "2026-11-26T16:33:28",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.5}}}},
       "metrics": {
        "reports/metrics.json": {
         "data": {
          "real": {"accuracy": 0.9684, "accuracy_ci_low": 0.954, "accuracy_ci_high": 0.9828, "train_images": 647, "real_train_images": 647},
          "cvae": {"accuracy": 0.9619, "accuracy_ci_low": 0.942, "accuracy_ci_high": 0.9819, "train_images": 1294, "real_train_images": 647, "delta_vs_real": -0.0065, "verdict": "no measurable effect"},
          "cgan": {"accuracy": 0.948, "accuracy_ci_low": 0.9218, "accuracy_ci_high": 0.9742, "train_images": 1294, "real_train_images": 647, "delta_vs_real": -0.0204, "verdict": "no measurable effect"},
          "cvaegan": {"accuracy": 0.9619, "accuracy_ci_low": 0.9539, "accuracy_ci_high": 0.9699, "train_images": 1294, "real_train_images": 647, "delta_vs_real": -0.0065, "verdict": "no measurable effect"}
         }
        }
       }
      },
      "error": null
     }
    ],
    "executor": {"state": "success"},
    "name": "girly-heck"
   },
   {
    "revs": [
     {
      "rev": "24bacfed1a6a387d718304f41986a70a8a38f934",
      "name": "snaky-mela",
      "data": {
       "rev": "24bacfed1a6a387d718304f41986a70a8a38f934",
       "timestamp": "2026-11-26T16:29:20",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.25}}}},
       "metrics": {
        "reports/metrics.json": {
         "data": {
          "real": {"accuracy": 0.9536, "accuracy_ci_low": 0.9324, "accuracy_ci_high": 0.9747, "train_images": 324, "real_train_images": 324},
          "cvae": {"accuracy": 0.9508, "accuracy_ci_low": 0.9468, "accuracy_ci_high": 0.9548, "train_images": 648, "real_train_images": 324, "delta_vs_real": -0.0028, "verdict": "no measurable effect"},
          "cgan": {"accuracy": 0.9034, "accuracy_ci_low": 0.8929, "accuracy_ci_high": 0.914, "train_images": 648, "real_train_images": 324, "delta_vs_real": -0.0501, "verdict": "hurts"},
          "cvaegan": {"accuracy": 0.9489, "accuracy_ci_low": 0.933, "accuracy_ci_high": 0.9649, "train_images": 648, "real_train_images": 324, "delta_vs_real": -0.0046, "verdict": "no measurable effect"}
         }
        }
       }
      },
      "error": null
     }
    ],
    "executor": {"state": "success"},
    "name": "snaky-mela"
   },
   {
    "revs": [
     {
      "rev": "9e9887c28bff01fe00af67220741a79829ce6f83",
      "name": "butch-ambo",
      "data": {
       "rev": "9e9887c28bff01fe00af67220741a79829ce6f83",
       "timestamp": "2026-11-26T16:25:32",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.1}}}},
       "metrics": {
        "reports/metrics.json": {
         "data": {
          "real": {"accuracy": 0.9155, "accuracy_ci_low": 0.9011, "accuracy_ci_high": 0.9299, "train_images": 129, "real_train_images": 129},
          "cvae": {"accuracy": 0.8793, "accuracy_ci_low": 0.8438, "accuracy_ci_high": 0.9148, "train_images": 258, "real_train_images": 129, "delta_vs_real": -0.0362, "verdict": "no measurable effect"},
          "cgan": {"accuracy": 0.8979, "accuracy_ci_low": 0.8478, "accuracy_ci_high": 0.9479, "train_images": 258, "real_train_images": 129, "delta_vs_real": -0.0176, "verdict": "no measurable effect"},
          "cvaegan": {"accuracy": 0.8654, "accuracy_ci_low": 0.8312, "accuracy_ci_high": 0.8995, "train_images": 258, "real_train_images": 129, "delta_vs_real": -0.0501, "verdict": "hurts"}
         }
        }
       }
      },
      "error": null
     }
    ],
    "executor": {"state": "success"},
    "name": "butch-ambo"
   }
  ]
 }
]
""")

IN_PROGRESS = json.loads(r"""
[
 {
  "rev": "workspace",
  "name": null,
  "data": {
   "rev": "workspace",
   "timestamp": null,
   "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}},
   "metrics": {
    "reports/metrics.json": {
     "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
    }
   }
  },
  "error": null,
  "experiments": null
 },
 {
  "rev": "6f9de849cfd0f932da5cb7ebf78b173e8e87f1a8",
  "name": "main",
  "data": {
   "rev": "6f9de849cfd0f932da5cb7ebf78b173e8e87f1a8",
   "timestamp": "2026-11-26T16:20:49",
   "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}},
   "metrics": {
    "reports/metrics.json": {
     "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
    }
   }
  },
  "error": null,
  "experiments": [
   {
    "revs": [
     {
      "rev": "ca628165456685ffaf83445c0ce4e415f6e8e244",
      "name": "butch-ambo",
      "data": {
       "rev": "workspace",
       "timestamp": null,
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.1}}}},
       "metrics": {
        "reports/metrics.json": {
         "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
        }
       }
      },
      "error": null
     }
    ],
    "executor": {"state": "running"},
    "name": "butch-ambo"
   },
   {
    "revs": [
     {
      "rev": "7d6b85c137fb92aa7f7e8a4d00028b491a41ea9c",
      "name": "snaky-mela",
      "data": {
       "rev": "7d6b85c137fb92aa7f7e8a4d00028b491a41ea9c",
       "timestamp": "2026-11-26T16:20:51",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.25}}}}
      },
      "error": null
     }
    ],
    "executor": {"state": "queued"},
    "name": "snaky-mela"
   },
   {
    "revs": [
     {
      "rev": "58240f0651fd998986923844c9921dee5059e093",
      "name": "girly-heck",
      "data": {
       "rev": "58240f0651fd998986923844c9921dee5059e093",
       "timestamp": "2026-11-26T16:20:51",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.5}}}}
      },
      "error": null
     }
    ],
    "executor": {"state": "queued"},
    "name": "girly-heck"
   },
   {
    "revs": [
     {
      "rev": "40f40aca1d495a13522f420d80f14d18a8e9efb0",
      "name": "unfit-omer",
      "data": {
       "rev": "40f40aca1d495a13522f420d80f14d18a8e9efb0",
       "timestamp": "2026-11-26T16:20:51",
       "params": {"params.yaml": {"data": {"data": {"train_size": 1.0}}}}
      },
      "error": null
     }
    ],
    "executor": {"state": "queued"},
    "name": "unfit-omer"
   },
   {
    "revs": [
     {
      "rev": "23f9a517a357fd3920c1830087cdfa464cae39a0",
      "name": "failing",
      "data": {
       "rev": "23f9a517a357fd3920c1830087cdfa464cae39a0",
       "timestamp": "2026-11-26T16:21:50",
       "params": {"params.yaml": {"data": {"data": {"train_size": 0.3}}}},
       "metrics": {
        "reports/metrics.json": {
         "error": {"type": "FileNotFoundError", "msg": "[Errno 2] No such file or directory: 'reports/metrics.json'"}
        }
       }
      },
      "error": {"msg": "Experiment run failed", "type": ""}
     }
    ],
    "executor": {"state": "failed"},
    "name": "failing"
   }
  ]
 }
]
""")

SIZES = {"butch-ambo": (0.1, 129), "snaky-mela": (0.25, 324), "girly-heck": (0.5, 647), "unfit-omer": (1.0, 1294)}


def _experiment(doc: list, name: str) -> dict:
    return next(e for e in doc[1]["experiments"] if e["name"] == name)


def _metrics(exp: dict) -> dict:
    return exp["revs"][0]["data"]["metrics"]["reports/metrics.json"]["data"]


def test_parse_finished_queue():
    rows = parse_exp_show(json.dumps(FINISHED))  # the text, as dvc prints it
    assert [(r.kind, r.status) for r in rows[:2]] == [("workspace", "no metrics"), ("baseline", "no metrics")]
    exps = {r.name: r for r in rows if r.kind == "experiment"}
    assert set(exps) == set(SIZES)
    for name, (size, images) in SIZES.items():
        row = exps[name]
        assert row.status == "ok"
        assert (row.train_size, row.real_train_images) == (size, images)
        assert set(row.sources) == {"real", "cvae", "cgan", "cvaegan"}
        assert row.timestamp.startswith("2026-11-26T")
    assert exps["unfit-omer"].sources["real"]["accuracy"] == pytest.approx(0.9638)


def test_one_point_per_size_in_real_images():
    points, notes = select_points(parse_exp_show(FINISHED))
    assert [p.x for p in points] == [129, 324, 647, 1294]
    assert {p.x_kind for p in points} == {"images"}
    assert [p.row.name for p in points] == ["butch-ambo", "snaky-mela", "girly-heck", "unfit-omer"]
    assert notes == ["skipped workspace (no metrics)", "skipped main (no metrics)"]


def test_newest_experiment_wins_a_shared_size_and_is_reported():
    doc = copy.deepcopy(FINISHED)
    rerun = copy.deepcopy(_experiment(doc, "girly-heck"))
    rerun["name"] = rerun["revs"][0]["name"] = "girly-rerun"
    rerun["revs"][0]["rev"] = rerun["revs"][0]["data"]["rev"] = "f" * 40
    rerun["revs"][0]["data"]["timestamp"] = "2026-11-26T17:00:00"
    _metrics(rerun)["real"]["accuracy"] = 0.5
    doc[1]["experiments"].append(rerun)
    # the workspace after `dvc repro` at train_size 1.0: an experiment of that size still wins
    doc[0]["data"]["metrics"]["reports/metrics.json"] = {
        "data": copy.deepcopy(_metrics(_experiment(doc, "unfit-omer")))
    }
    points, notes = select_points(parse_exp_show(doc))
    assert len(points) == 4
    by_x = {p.x: p.row for p in points}
    assert by_x[647].name == "girly-rerun" and by_x[647].sources["real"]["accuracy"] == 0.5
    assert by_x[1294].name == "unfit-omer"
    assert any("647" in n and "kept girly-rerun" in n and "dropped girly-heck" in n for n in notes)
    assert any("1294" in n and "kept unfit-omer" in n and "dropped workspace" in n for n in notes)


def test_workspace_alone_counts_when_no_experiment_has_its_size():
    doc = copy.deepcopy(FINISHED)
    doc[1]["experiments"] = [e for e in doc[1]["experiments"] if e["name"] != "unfit-omer"]
    doc[0]["data"]["metrics"]["reports/metrics.json"] = {
        "data": copy.deepcopy(_metrics(_experiment(FINISHED, "unfit-omer")))
    }
    points, _ = select_points(parse_exp_show(doc))
    assert [p.row.name for p in points][-1] == "workspace"


def test_queued_running_and_failed_experiments_are_skipped():
    rows = parse_exp_show(IN_PROGRESS)
    assert {r.name: r.status for r in rows if r.kind == "experiment"} == {
        "butch-ambo": "running",
        "snaky-mela": "queued",
        "girly-heck": "queued",
        "unfit-omer": "queued",
        "failing": "failed",
    }
    points, notes = select_points(rows)
    assert points == []
    assert "skipped failing (failed)" in notes and "skipped butch-ambo (running)" in notes


def test_missing_metrics_and_missing_image_counts():
    doc = copy.deepcopy(FINISHED)
    # an experiment whose metrics file is unreadable is skipped
    _experiment(doc, "snaky-mela")["revs"][0]["data"]["metrics"]["reports/metrics.json"] = {
        "error": {"type": "FileNotFoundError", "msg": "no such file"}
    }
    # metrics written before compare recorded image counts: x falls back to the param as run
    for exp in doc[1]["experiments"]:
        for entry in exp["revs"][0]["data"]["metrics"]["reports/metrics.json"].get("data", {}).values():
            entry.pop("real_train_images"), entry.pop("train_images")
    points, notes = select_points(parse_exp_show(doc))
    assert [(p.x, p.x_kind) for p in points] == [(0.1, "param"), (0.5, "param"), (1.0, "param")]
    assert "skipped snaky-mela (no metrics)" in notes
    # fractions and counts on one axis: said so
    _experiment(doc, "girly-heck")["revs"][0]["data"]["params"]["params.yaml"]["data"]["data"]["train_size"] = 500
    points, notes = select_points(parse_exp_show(doc))
    assert [p.x for p in points] == [0.1, 1.0, 500]
    assert any("mixes fractions" in n for n in notes)


def test_real_train_images_alone_is_enough():
    doc = copy.deepcopy(FINISHED)
    for exp in doc[1]["experiments"]:
        for entry in _metrics(exp).values():
            entry.pop("real_train_images")
    points, _ = select_points(parse_exp_show(doc))
    assert [(p.x, p.x_kind) for p in points] == [(129, "images"), (324, "images"), (647, "images"), (1294, "images")]


def test_another_metrics_file_name():
    rows = parse_exp_show(FINISHED, metrics_file="results/metrics.json")
    assert {r.status for r in rows} == {"no metrics"}


def test_not_an_exp_show_document():
    with pytest.raises(DataSizeError, match="not JSON"):
        parse_exp_show("WARNING: something\n[")
    with pytest.raises(DataSizeError, match="expected a list"):
        parse_exp_show({"rev": "workspace"})


def test_figure_and_csv(tmp_path):
    points, _ = select_points(parse_exp_show(FINISHED))
    figure = plot_data_size(points, tmp_path / "fig" / "data_size.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and figure.stat().st_size > 10_000
    table = write_points(points, tmp_path / "data_size.csv")
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 4
    assert len({(r["x"], r["source"]) for r in rows}) == 16
    first = rows[0]
    assert (first["x"], first["x_kind"], first["train_size"], first["source"]) == ("129.0", "images", "0.1", "real")
    cvaegan = next(r for r in rows if r["x"] == "129.0" and r["source"] == "cvaegan")
    assert float(cvaegan["ci_low"]) <= float(cvaegan["accuracy"]) <= float(cvaegan["ci_high"])
    assert cvaegan["verdict"] and cvaegan["experiment"] == "butch-ambo"
    with pytest.raises(DataSizeError):
        plot_data_size([], tmp_path / "empty.png")


def test_cli_from_json(tmp_path, capsys):
    src = tmp_path / "exp_show.json"
    src.write_text(json.dumps(FINISHED))
    out, table = tmp_path / "f.png", tmp_path / "t.csv"
    assert main(["--from-json", str(src), "--out", str(out), "--csv", str(table)]) == 0
    assert out.is_file() and len(table.read_text().splitlines()) == 1 + 16
    stdout = capsys.readouterr().out
    assert "[0.901, 0.930]" in stdout and "unfit-omer" in stdout


def _error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1
    return err[0]


def test_cli_error_without_results(tmp_path, capsys):
    src = tmp_path / "exp_show.json"
    src.write_text(json.dumps(IN_PROGRESS))
    assert main(["--from-json", str(src), "--out", str(tmp_path / "f.png"), "--csv", str(tmp_path / "t.csv")]) == 2
    line = _error_line(capsys)
    assert "no experiment with reports/metrics" in line and "4 queued" not in line and "3 queued" in line
    assert not (tmp_path / "f.png").exists()


def test_cli_error_missing_file(tmp_path, capsys):
    assert main(["--from-json", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in _error_line(capsys)


def test_cli_error_without_dvc(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(dvc_queue.shutil, "which", lambda name: None)
    monkeypatch.setattr(dvc_queue.sys, "executable", str(tmp_path / "python"))  # no dvc next to it
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert "dvc is not available" in _error_line(capsys)


def test_dvc_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git or DVC repository
    with pytest.raises(DataSizeError, match="dvc exp show --json. failed"):
        dvc_queue.dvc_exp_show()


@pytest.mark.slow
def test_real_dvc_experiments(tmp_path, monkeypatch, capsys):
    """The installed DVC, end to end: a one-stage project writing metrics.json as compare does,
    two experiments of different sizes, then the command reads `dvc exp show --json` itself."""
    (tmp_path / "params.yaml").write_text("data:\n  train_size: 1.0\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / ".gitignore").write_text("")
    (tmp_path / "stage.py").write_text(
        "import json, re\n"
        "size = float(re.search(r'train_size: (\\S+)', open('params.yaml').read()).group(1))\n"
        "n = round(size * 1000) if size <= 1 else int(size)\n"
        "m = {s: {'accuracy': 0.9 - 0.01 * i - 10 / n, 'accuracy_ci_low': 0.85 - 10 / n, "
        "'accuracy_ci_high': 0.95 - 10 / n, 'train_images': n, 'real_train_images': n}\n"
        "     for i, s in enumerate(['real', 'cvae', 'cgan', 'cvaegan'])}\n"
        "json.dump(m, open('reports/metrics.json', 'w'))\n"
    )
    (tmp_path / "dvc.yaml").write_text(
        f"stages:\n  compare:\n    cmd: {sys.executable} stage.py\n    deps: [stage.py]\n    params: [data]\n"
        "    metrics:\n      - reports/metrics.json:\n          cache: false\n"
    )
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@t",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@t",
        DVC_NO_ANALYTICS="1",
    )
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (
        ["git", "init", "-q"],
        [dvc, "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
        [dvc, "exp", "run", "-q", "-S", "data.train_size=0.2"],
        [dvc, "exp", "run", "-q", "-S", "data.train_size=0.5"],
    ):
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(dvc_queue.shutil, "which", lambda name: None)  # the venv's dvc, found next to python
    assert main([]) == 0
    rows = list(csv.DictReader((tmp_path / "reports" / "data_size.csv").open()))
    assert sorted({float(r["x"]) for r in rows}) == [200, 500]  # the workspace (0.5) is the same size: dropped
    assert (tmp_path / "reports" / "data_size.png").is_file()
    assert "dropped workspace" in capsys.readouterr().err


# --- the classic, combined and filtered sources --------------------------------------------------


def _with_all_sources(doc: list) -> list:
    """FINISHED with every source of SOURCES in each experiment's metrics, as the current compare
    writes them (delta_vs_classic for all but real and classic, macro_f1 for all)."""
    doc = copy.deepcopy(doc)
    for exp in doc[1]["experiments"]:
        m = _metrics(exp)
        real = m["real"]
        for i, source in enumerate(SOURCES):
            entry = m.setdefault(source, {})
            if source not in ("real", "cvae", "cgan", "cvaegan"):
                acc = round(real["accuracy"] - 0.002 * i, 4)
                entry.update(
                    accuracy=acc,
                    accuracy_ci_low=acc - 0.02,
                    accuracy_ci_high=acc + 0.01,
                    train_images=2 * real["train_images"],
                    real_train_images=real["real_train_images"],
                    delta_vs_real=round(acc - real["accuracy"], 4),
                    delta_ci_low=-0.03,
                    delta_ci_high=0.01,
                    verdict="no measurable effect",
                )
            entry["macro_f1"] = round(entry["accuracy"] - 0.01, 4)
            if source not in ("real", "classic"):
                entry.update(
                    delta_vs_classic=-0.004,
                    delta_vs_classic_ci_low=-0.02,
                    delta_vs_classic_ci_high=0.012,
                    verdict_vs_classic="no measurable effect",
                )
    return doc


def _plotted(monkeypatch, points, path) -> list[tuple[str, list[str]]]:
    """(panel title, legend labels) of each panel plot_data_size draws."""
    figures = []
    monkeypatch.setattr(data_size_figure.plt, "close", figures.append)
    plot_data_size(points, path)
    assert len(figures) == 1
    return [(ax.get_title(), [t.get_text() for t in ax.get_legend().get_texts()]) for ax in figures[0].axes]


def test_every_source_gets_a_line_on_its_panels(tmp_path, monkeypatch):
    points, _ = select_points(parse_exp_show(_with_all_sources(FINISHED)))
    assert [set(p.row.sources) for p in points] == [set(SOURCES)] * 4
    assert panel_layout(sources_of(points)) == [
        ("each source alone", ["real", "classic", "cvae", "cgan", "cvaegan", "cfm"]),
        (
            "with classical augmentation",
            ["real", "classic", "classic+cvae", "classic+cgan", "classic+cvaegan", "classic+cfm"],
        ),
        (
            "filtered synthetic sets",
            [
                "real",
                "cvae",
                "cgan",
                "cvaegan",
                "cfm",
                "cvae-filtered",
                "cgan-filtered",
                "cvaegan-filtered",
                "cfm-filtered",
            ],
        ),
        (
            "restyle and transfer sets",
            [
                "real",
                "classic",
                "cvae-restyle",
                "cvaegan-restyle",
                "cfm-restyle",
                "cvae-transfer",
                "cvaegan-transfer",
                "cfm-transfer",
                "classic+cvae-restyle",
                "classic+cvaegan-restyle",
                "classic+cfm-restyle",
                "classic+cvae-transfer",
                "classic+cvaegan-transfer",
                "classic+cfm-transfer",
            ],
        ),
    ]
    panels = _plotted(monkeypatch, points, tmp_path / "all.png")
    assert [title for title, _ in panels] == [
        "each source alone",
        "with classical augmentation",
        "filtered synthetic sets",
        "restyle and transfer sets",
    ]
    assert all(labels[0] == "real data" for _, labels in panels)  # the reference on every panel
    assert "classical augmentation + CVAE-GAN" in panels[1][1] and "CGAN (filtered)" in panels[2][1]
    assert sum(len(labels) for _, labels in panels) == 21 + 14
    assert (tmp_path / "all.png").read_bytes()[:4] == b"\x89PNG"
    # one colour per method across panels; real and classic are the two reference styles
    colors = {s: source_style(s)["color"] for s in SOURCES}
    assert colors["cvae"] == colors["classic+cvae"] == colors["cvae-filtered"] != colors["cgan"]
    assert source_style("real")["linestyle"] == "--" and source_style("classic")["linestyle"] == ":"
    assert source_style("cvae-filtered")["linestyle"] != source_style("cvae")["linestyle"]


def test_csv_has_a_row_per_size_and_source_with_the_classic_deltas(tmp_path):
    points, _ = select_points(parse_exp_show(_with_all_sources(FINISHED)))
    with write_points(points, tmp_path / "t.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * len(SOURCES)
    assert [r["source"] for r in rows[: len(SOURCES)]] == list(SOURCES)  # SOURCES order within a size
    combined = next(r for r in rows if r["x"] == "129.0" and r["source"] == "classic+cvaegan")
    assert (
        combined["delta_vs_classic"],
        combined["delta_vs_classic_ci_low"],
        combined["delta_vs_classic_ci_high"],
        combined["verdict_vs_classic"],
    ) == ("-0.004", "-0.02", "0.012", "no measurable effect")
    assert float(combined["macro_f1"]) == pytest.approx(float(combined["accuracy"]) - 0.01)
    for source in ("real", "classic"):  # no delta against classic: blank cells
        row = next(r for r in rows if r["x"] == "129.0" and r["source"] == source)
        assert row["delta_vs_classic"] == row["verdict_vs_classic"] == "" and row["macro_f1"]


def test_older_metrics_keep_one_panel_and_blank_new_columns(tmp_path, monkeypatch):
    points, _ = select_points(parse_exp_show(FINISHED))
    assert _plotted(monkeypatch, points, tmp_path / "old.png") == [("", ["real data", "CVAE", "CGAN", "CVAE-GAN"])]
    with write_points(points, tmp_path / "t.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:15] == CSV_HEADER[:15]  # the old columns first, in their old order
    for column in ("delta_vs_classic", "delta_vs_classic_ci_low", "verdict_vs_classic", "macro_f1"):
        assert {r[column] for r in rows} == {""}


def test_some_new_sources_give_their_panels_only(tmp_path, monkeypatch):
    doc = _with_all_sources(FINISHED)
    for exp in doc[1]["experiments"]:
        for source in [s for s in _metrics(exp) if s.endswith(("-filtered", "-restyle", "-transfer"))]:
            del _metrics(exp)[source]
    del _metrics(_experiment(doc, "butch-ambo"))["classic+cgan"]  # absent at one size: a shorter line
    points, _ = select_points(parse_exp_show(doc))
    panels = _plotted(monkeypatch, points, tmp_path / "f.png")
    assert [title for title, _ in panels] == ["each source alone", "with classical augmentation"]
    assert "classical augmentation + CGAN" in panels[1][1]
    line = next(ln for ln in format_table(points).splitlines() if ln.startswith("classic+cgan "))
    assert line.split()[1] == "-"  # the size where it is absent


# --- run: queue, start, wait, collect, against a fake DVC ----------------------------------------

QUEUE_STATUS = """\
Task     Name        Created       Status
3619d4f  adult-rues  09:05 AM      Success
3b799f9              Nov 26, 2026  Failed
0c51736  gabby-sley  09:09 AM      Running
04a2b5b  fated-matt  09:09 AM      Queued

Worker status: 1 active, 0 idle
"""


def test_headline_files_are_read_one_per_source_and_older_runs_metrics_json_still_is():
    """compare's DVC metrics are a folder of <source>.json files; experiments made before that
    carry one reports/metrics.json: both give the same sources, in report order."""
    doc = copy.deepcopy(FINISHED)
    exp = next(e for c in doc for e in c.get("experiments") or [] if e["revs"][0]["data"].get("metrics"))
    data = exp["revs"][0]["data"]
    single = data["metrics"].pop("reports/metrics.json")["data"]
    data["metrics"] = {f"reports/metrics/{s}.json": {"data": e} for s, e in reversed(list(single.items()))}
    data["metrics"]["reports/metrics/nested/x.json"] = {"data": {"accuracy": 0.1}}  # not a source file
    rows = parse_exp_show(doc)
    row = next(r for r in rows if r.name == exp["name"])
    assert list(row.sources) == list(single) and row.sources["real"] == single["real"]
    assert [r.sources for r in parse_exp_show(FINISHED) if r.name == exp["name"]] == [row.sources]


def test_parse_queue_status():
    status = parse_queue_status(QUEUE_STATUS)
    assert [(t.task, t.name, t.status) for t in status.tasks] == [
        ("3619d4f", "adult-rues", "Success"),
        ("3b799f9", "", "Failed"),
        ("0c51736", "gabby-sley", "Running"),
        ("04a2b5b", "fated-matt", "Queued"),
    ]
    assert (status.active, status.idle) == (1, 0)
    assert status.state_of("gabby-sley") == "Running" and status.state_of("3b799f9") == "Failed"
    assert status.state_of("other") is None
    empty = parse_queue_status("No experiment tasks in the queue.\n\nWorker status: 0 active, 0 idle\n")
    assert (empty.tasks, empty.active, empty.idle) == ([], 0, 0)


class FakeDvc:
    """A Runner: records every `dvc` call and answers as DVC 3.67 does. Once started, the queue
    advances one step per `queue status` poll (the running experiment finishes, the next one runs); ``fail`` names the train_size values
    whose experiment fails. `exp show --json` lists the succeeded ones, with metrics of every source."""

    def __init__(self, fail: tuple[str, ...] = (), workers: bool = True, queue_exit: dict[int, int] | None = None):
        self.calls: list[list[str]] = []
        self.queued: list[tuple[str, str]] = []  # (name, train_size as passed)
        self.done: dict[str, str] = {}
        self.started = False
        self.running: str | None = None
        self.fail, self.workers, self.queue_exit = fail, workers, queue_exit or {}

    def __call__(self, args):
        args = list(args)
        self.calls.append(args)
        out = ""
        if args[:3] == ["exp", "run", "--queue"]:
            size = args[args.index("-S") + 1].split("=", 1)[1]
            code = self.queue_exit.get(len(self.queued), 0)
            if code:
                return subprocess.CompletedProcess(["dvc", *args], code, "", "ERROR: something went wrong\n")
            name = f"exp-{len(self.queued)}"
            self.queued.append((name, size))
            out = (
                f"Queueing with overrides '{{'params.yaml': ['data.train_size={size}']}}'.\n"
                f"Queued experiment '{name}' for future execution.\n"
            )
        elif args[:2] == ["queue", "start"]:
            self.started = True
            out = f"Started '{args[-1]}' new experiments task queue worker.\n"
        elif args == ["queue", "status"]:
            out = self._status()
        elif args[:3] == ["exp", "show", "--json"]:
            out = json.dumps(self._exp_show())
        else:
            raise AssertionError(f"unexpected dvc call: {args}")
        return subprocess.CompletedProcess(["dvc", *args], 0, out, "")

    def _status(self) -> str:
        if self.started and self.workers:  # each poll: the running one finishes, the next one starts
            if self.running is not None:
                size = dict(self.queued)[self.running]
                self.done[self.running] = "Failed" if size in self.fail else "Success"
            self.running = next((n for n, _ in self.queued if n not in self.done), None)
        lines = ["Task     Name        Created    Status"]
        for i, (name, _) in enumerate(self.queued):
            state = self.done.get(name) or ("Running" if name == self.running else "Queued")
            lines.append(f"{i:07x}  {name:<10}  09:05 AM   {state}")
        return "\n".join(lines) + f"\n\nWorker status: {int(self.running is not None)} active, 0 idle\n"

    def _exp_show(self) -> list:
        doc = _with_all_sources(FINISHED)
        template = _experiment(doc, "unfit-omer")
        experiments = []
        for name, size in self.queued:
            if self.done.get(name) != "Success":
                continue
            exp = copy.deepcopy(template)
            exp["name"] = exp["revs"][0]["name"] = name
            exp["revs"][0]["data"]["params"]["params.yaml"]["data"]["data"]["train_size"] = int(size)
            for entry in _metrics(exp).values():
                entry["real_train_images"] = int(size)
            experiments.append(exp)
        doc[1]["experiments"] = experiments
        return doc


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with params.yaml and a prepared splits file of 10 classes, 8,000 training
    images (prepared at data.train_size 1.0: every image a count may ask for)."""
    (tmp_path / "params.yaml").write_text("paths:\n  splits: prepared\n")
    train = LabeledImages(torch.zeros(8000, 1, 1, 1), torch.arange(8000) % 10)
    small = LabeledImages(torch.zeros(10, 1, 1, 1), torch.arange(10))
    splits = Splits(train=train, val=small, test=small, classes=[str(i) for i in range(10)])
    splits.save(tmp_path / "prepared" / "splits.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_run_queues_per_class_sizes_starts_waits_and_collects(project, capsys):
    dvc = FakeDvc()
    argv = ["run", "--per-class", "20,50,200,800", "--poll-seconds", "0"]
    assert main(argv, runner=dvc) == 0
    assert dvc.queued == [("exp-0", "200"), ("exp-1", "500"), ("exp-2", "2000"), ("exp-3", "8000")]  # x K=10
    kinds = [" ".join(c[:2]) for c in dvc.calls]
    assert kinds[:5] == ["exp run"] * 4 + ["queue start"]
    assert dvc.calls[4] == ["queue", "start", "-j", "1"]
    assert set(kinds[5:-1]) == {"queue status"} and kinds[-1] == "exp show"  # waits, then collects
    assert all(n in dvc.done for n, _ in dvc.queued)
    out = capsys.readouterr().out
    assert "\r" not in out
    progress = [ln for ln in out.splitlines() if "experiments finished" in ln]
    assert [ln.split()[1] for ln in progress] == ["0/4", "1/4", "2/4", "3/4", "4/4"]  # one line per change
    assert "0/4 experiments finished (1 running, 3 waiting)" in progress[0]
    assert "queued exp-0 (data.train_size=200, 20 per class x 10 classes)" in out
    with (project / "reports" / "data_size.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted({float(r["x"]) for r in rows}) == [200, 500, 2000, 8000]
    assert len(rows) == 4 * len(SOURCES)
    assert (project / "reports" / "data_size.png").is_file()


def test_run_with_sizes_jobs_copies_and_outputs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no params.yaml, no splits: --sizes needs neither
    dvc = FakeDvc()
    out, table = tmp_path / "o" / "f.png", tmp_path / "o" / "t.csv"
    assert (
        main(
            [
                "run",
                "--sizes",
                "300,100",
                "-j",
                "2",
                "-C",
                "data/raw",
                "--set",
                "cpu_threads=1",
                "--poll-seconds",
                "0",
                "--out",
                str(out),
                "--csv",
                str(table),
            ],
            runner=dvc,
        )
        == 0
    )
    assert [s for _, s in dvc.queued] == ["100", "300"]
    assert dvc.calls[0] == [
        "exp",
        "run",
        "--queue",
        "-S",
        "data.train_size=100",
        "-S",
        "cpu_threads=1",
        "-C",
        "data/raw",
    ]
    assert ["queue", "start", "-j", "2"] in dvc.calls
    assert out.is_file() and len(table.read_text().splitlines()) == 1 + 2 * len(SOURCES)


def test_run_fails_with_one_line_when_an_experiment_failed(project, capsys):
    dvc = FakeDvc(fail=("500",))
    assert main(["run", "--per-class", "20,50,200", "--poll-seconds", "0"], runner=dvc) == 2
    line = _error_line(capsys)
    assert "1 of 3 experiments failed: exp-1 (data.train_size=500)" in line
    assert "`dvc queue logs exp-1`" in line
    assert all(n in dvc.done for n, _ in dvc.queued)  # waited for all of them first
    assert not any(c[:2] == ["exp", "show"] for c in dvc.calls)
    assert not (project / "reports").exists()


def test_run_without_splits_says_to_prepare_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("paths:\n  splits: prepared\n")
    dvc = FakeDvc()
    assert main(["run", "--per-class", "20,50"], runner=dvc) == 2
    line = _error_line(capsys)
    assert "prepared/splits.pt" in line and "dvc repro" in line and "--sizes" in line
    assert dvc.calls == []


def test_run_refuses_sizes_larger_than_the_training_split(project, capsys):
    dvc = FakeDvc()
    assert main(["run", "--per-class", "20,1000"], runner=dvc) == 2
    line = _error_line(capsys)
    assert "data.train_size=10000 (1000 per class x 10 classes): more training images than the 8000" in line
    assert dvc.calls == []
    (project / "params.yaml").write_text("paths:\n  splits: prepared\ndata:\n  train_size: 0.5\n")
    assert main(["run", "--sizes", "9000", "--poll-seconds", "0"], runner=dvc) == 0  # prepared at 0.5: unknown


def test_run_gives_up_when_no_worker_runs(project, capsys):
    dvc = FakeDvc(workers=False)
    assert main(["run", "--sizes", "100", "--poll-seconds", "0", "--stall-seconds", "0"], runner=dvc) == 2
    assert "no queue worker has been active" in _error_line(capsys)


def test_run_names_what_was_queued_when_queueing_fails(project, capsys):
    dvc = FakeDvc(queue_exit={1: 1})
    assert main(["run", "--per-class", "20,50,200"], runner=dvc) == 2
    line = _error_line(capsys)
    assert "dvc exp run --queue -S data.train_size=500` failed (exit 1): ERROR: something went wrong" in line
    assert "already queued: exp-0" in line and "dvc queue remove exp-0" in line
    assert not any(c[:2] == ["queue", "start"] for c in dvc.calls)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--per-class", "20,x"], "--per-class: expected whole numbers"),
        (["run", "--per-class", "0"], "--per-class: expected whole numbers > 0"),
        (["run", "--sizes", "2.5"], "--sizes: 2.5 is neither"),
        (["run", "--sizes", "100", "--jobs", "0"], "--jobs"),
    ],
)
def test_run_argument_errors(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    dvc = FakeDvc()
    assert main(argv, runner=dvc) == 2
    assert message in _error_line(capsys) and dvc.calls == []


def test_collect_subcommand_is_the_default(tmp_path, capsys):
    src = tmp_path / "exp_show.json"
    src.write_text(json.dumps(_with_all_sources(FINISHED)))
    table = tmp_path / "t.csv"
    assert main(["collect", "--from-json", str(src), "--out", str(tmp_path / "f.png"), "--csv", str(table)]) == 0
    assert len(table.read_text().splitlines()) == 1 + 4 * len(SOURCES)
    assert "classic+cvaegan" in capsys.readouterr().out


def test_dvc_runner_puts_dvc_first_on_path_and_reads_both_streams(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "dvc"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$1 $PATH"\necho oops >&2\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setattr(dvc_queue.shutil, "which", lambda name: str(fake))
    done = dvc_queue.dvc_runner(cwd=tmp_path)(["queue"])
    assert done.returncode == 3 and done.stderr == "oops\n"
    assert done.stdout.startswith(f"queue {fake.parent}{os.pathsep}")
    with pytest.raises(DataSizeError, match=r"`dvc queue status` failed \(exit 3\): oops"):
        dvc_queue._dvc(dvc_queue.dvc_runner(), ["queue", "status"])


def test_rows_of_another_setup_and_stale_workspace_reports_are_left_out(tmp_path, monkeypatch, capsys):
    """An experiment with rare classes is not a size of the figure; with --experiments-only the
    workspace's committed reports (of other data, say) are not either."""
    doc = copy.deepcopy(FINISHED)
    rare = copy.deepcopy(_experiment(doc, "girly-heck"))
    rare["name"] = rare["revs"][0]["name"] = "rare-classes"
    rare["revs"][0]["data"]["params"]["params.yaml"]["data"]["data"]["imbalance"] = {"classes": [0, 1], "keep": 0.05}
    _metrics(rare)["real"]["real_train_images"] = 400
    _metrics(rare)["real"]["train_images"] = 400
    doc[1]["experiments"].append(rare)
    points, notes = select_points(parse_exp_show(doc))
    assert [p.row.name for p in points] == ["butch-ambo", "snaky-mela", "girly-heck", "unfit-omer"]
    assert (
        "skipped rare-classes (another setup than the experiments': data.imbalance.classes=[0, 1], "
        "data.imbalance.keep=0.05)" in notes
    )
    # a workspace holding metrics of another size: kept by default, left out with --experiments-only
    doc[0]["data"]["metrics"]["reports/metrics.json"] = {
        "data": copy.deepcopy(_metrics(_experiment(doc, "unfit-omer")))
    }
    for entry in doc[0]["data"]["metrics"]["reports/metrics.json"]["data"].values():
        entry["real_train_images"] = 5000
    saved = tmp_path / "show.json"
    saved.write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    assert main(["--from-json", str(saved), "--csv", "a.csv", "--out", "a.png"]) == 0
    assert 5000 in {float(r["x"]) for r in csv.DictReader(open("a.csv"))}
    assert main(["--from-json", str(saved), "--csv", "b.csv", "--out", "b.png", "--experiments-only"]) == 0
    assert 5000 not in {float(r["x"]) for r in csv.DictReader(open("b.csv"))}


def test_colours_come_from_the_accuracy_figures():
    """One source of truth for colours: evaluation/report/figures.py (the data-size classic line was #222222)."""
    from_figures = {
        "real": BASELINE_COLORS["real"],
        "classic": BASELINE_COLORS["classic"],
        **{m: method_color(m) for m in GENERATOR_NAMES},
    }
    assert {s: source_style(s)["color"] for s in from_figures} == from_figures
    assert source_style("classic")["color"] == "#555555"
    assert source_style("not-a-source")["color"] in PALETTE
    assert len({method_color(m) for m in GENERATOR_NAMES}) == len(GENERATOR_NAMES)  # cfm has its own too
