"""Value vs data size (evaluation/data_size.py): parsing `dvc exp show --json`, one point per size,
skipped and dropped rows, the figure and CSV, and the command's errors.

The documents below are real `dvc exp show --json` output of DVC 3.67, trimmed (deps, outs and most
metrics keys removed, numbers rounded): FINISHED is the recipe of docs/data_size.md after
`dvc queue start` finished (4 sizes, dvc.lock not committed so the baseline has no metrics);
IN_PROGRESS is the same queue while the first experiment ran, plus one failed queued experiment
captured from a scratch repository.
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

from evaluation import data_size as ds
from evaluation.data_size import DataSizeError, main, parse_exp_show, plot_data_size, select_points, write_csv

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
    doc[0]["data"]["metrics"]["reports/metrics.json"] = {"data": copy.deepcopy(_metrics(_experiment(doc, "unfit-omer")))}
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
    doc[0]["data"]["metrics"]["reports/metrics.json"] = {"data": copy.deepcopy(_metrics(_experiment(FINISHED, "unfit-omer")))}
    points, _ = select_points(parse_exp_show(doc))
    assert [p.row.name for p in points][-1] == "workspace"


def test_queued_running_and_failed_experiments_are_skipped():
    rows = parse_exp_show(IN_PROGRESS)
    assert {r.name: r.status for r in rows if r.kind == "experiment"} == {
        "butch-ambo": "running", "snaky-mela": "queued", "girly-heck": "queued", "unfit-omer": "queued",
        "failing": "failed"}
    points, notes = select_points(rows)
    assert points == []
    assert "skipped failing (failed)" in notes and "skipped butch-ambo (running)" in notes


def test_missing_metrics_and_missing_image_counts():
    doc = copy.deepcopy(FINISHED)
    # an experiment whose metrics file is unreadable is skipped
    _experiment(doc, "snaky-mela")["revs"][0]["data"]["metrics"]["reports/metrics.json"] = {
        "error": {"type": "FileNotFoundError", "msg": "no such file"}}
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
    table = write_csv(points, tmp_path / "data_size.csv")
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
    assert "no experiment with reports/metrics.json" in line and "4 queued" not in line and "3 queued" in line
    assert not (tmp_path / "f.png").exists()


def test_cli_error_missing_file(tmp_path, capsys):
    assert main(["--from-json", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in _error_line(capsys)


def test_cli_error_without_dvc(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ds.shutil, "which", lambda name: None)
    monkeypatch.setattr(ds.sys, "executable", str(tmp_path / "python"))  # no dvc next to it
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    assert "dvc is not available" in _error_line(capsys)


def test_dvc_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git or DVC repository
    with pytest.raises(DataSizeError, match="dvc exp show --json. failed"):
        ds.dvc_exp_show()


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
        "json.dump(m, open('reports/metrics.json', 'w'))\n")
    (tmp_path / "dvc.yaml").write_text(
        f"stages:\n  compare:\n    cmd: {sys.executable} stage.py\n    deps: [stage.py]\n    params: [data]\n"
        "    metrics:\n      - reports/metrics.json:\n          cache: false\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1")
    dvc = str(Path(sys.executable).with_name("dvc"))
    for cmd in (["git", "init", "-q"], [dvc, "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "init"],
                [dvc, "exp", "run", "-q", "-S", "data.train_size=0.2"],
                [dvc, "exp", "run", "-q", "-S", "data.train_size=0.5"]):
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{cmd}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(ds.shutil, "which", lambda name: None)  # the venv's dvc, found next to python
    assert main([]) == 0
    rows = list(csv.DictReader((tmp_path / "reports" / "data_size.csv").open()))
    assert sorted({float(r["x"]) for r in rows}) == [200, 500]  # the workspace (0.5) is the same size: dropped
    assert (tmp_path / "reports" / "data_size.png").is_file()
    assert "dropped workspace" in capsys.readouterr().err
