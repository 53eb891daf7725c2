"""End to end: the real `dvc repro` on a tiny configuration in a copy of the project, then the
metrics file, the MLflow runs with their tags and images, and a second repro that does nothing.
Also the stage scripts' argument errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from augment.core.pixels import quantize
from augment.data.labeled import Splits
from augment.params.config import GENERATOR_NAMES, Params
from augment.params.file import all_keys, load_params
from augment.params.sources import SOURCES, source_label
from augment.sampling.restyle import styled_set
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import load_synthetic
from augment.training.checkpoint import load_generator, read_checkpoint
from evaluation.report.bar import capitalized
from evaluation.report.entries import HEADLINE_KEYS
from evaluation.report.results import SELF_TRAINING_KEYS, ClassifierResult, ClassifierRun, ClassInterval, declared_keys
from pipelines.dvc_file import expanded_stages
from pipelines.restyle import ITEMS as RESTYLE
from pipelines.restyle import restyle as restyle_stage
from pipelines.stage import run_stage
from pipelines.train_generator import train as train_generator_stage
from tests.conftest import ROOT, TINY_CFM, TINY_CFM_SAMPLING, copy_project

BIN = Path(sys.executable).parent
TINY = {
    # classes 0 and 1 made rare (15 of their 30 training images kept), the synthetic images top
    # them up: the rare-class path end to end
    "data": {"train_size": 300, "imbalance": {"classes": [0, 1], "keep": 0.5}},
    "generators": {
        "grid_every": 1,
        **{n: {"epochs": 2, "latent_dim": 4, "width": 8} for n in ("cvae", "cgan", "cvaegan")},
        "cfm": dict(TINY_CFM),
    },
    "sample": {
        "per_class": 30,
        "filter": {"threshold": 0.05, "max_draws": 40},
        # the styled sets through the filter (sample.styled.filter); unfiltered: the restyle test below
        "styled": {"methods": ["cvae", "cvaegan", "cfm"], "filter": True},
        "generators": {"cfm": dict(TINY_CFM_SAMPLING)},
    },
    # every source that applies (the bundled params.yaml trains 13 of them)
    "classifier": {"sources": list(SOURCES), "seeds": [0, 1], "steps": 40, "width": 8, "synthetic_mode": "top_up"},
    "evaluation": {"max_images": 100, "kid_subsets": 3, "judge": {"steps": 60, "width": 8}},
}
# the method's warm start, through DVC: train_generator@cvaegan runs after @cvae and reads cvae.pt
TINY["generators"]["cvaegan"]["init_from"] = "cvae"


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def repro(tmp_path_factory):
    """A copy of the tracked project with tiny params, after one `dvc repro`."""
    project = tmp_path_factory.mktemp("project")
    env = copy_project(project, TINY)
    first = _run(["dvc", "repro"], project, env)
    return project, env, first


def test_metrics_file_has_every_source_and_method_deltas(repro):
    project, _, _ = repro
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert list(metrics) == list(SOURCES)
    # every key of every entry is declared by the one record type (evaluation/report/results.py); this
    # tiny run has rare classes, filtered sets and quality numbers, so every kind of key is here
    assert set().union(*metrics.values()) == declared_keys() - SELF_TRAINING_KEYS  # no label budget here
    assert set(metrics["real"]["rare_per_class"]["0"]) == set(ClassInterval.__annotations__)
    result = json.loads((project / "reports/classifiers/classic+cgan.json").read_text())
    assert set(result) == set(ClassifierResult.__annotations__)
    assert all(set(run) == set(ClassifierRun.__annotations__) for run in result["runs"])
    real = metrics["real"]
    # the asked composition: real with classes 0 and 1 thinned to half; each method tops every
    # class up to the largest, with or without classical augmentation or filter

    counts = Splits.load(project / "data/splits/splits.pt").train.labels.bincount()
    assert real["train_images"] == metrics["classic"]["train_images"] == int(counts.sum())
    assert int(counts[0]) < int(counts[2]) // 2 + 2 and int(counts[1]) < int(counts[2]) // 2 + 2
    for method in GENERATOR_NAMES:
        for source in (method, f"classic+{method}", f"{method}-filtered"):
            assert metrics[source]["train_images"] == 10 * int(counts.max()), source
        assert 0 < metrics[f"{method}-filtered"]["acceptance_rate"] <= 1
        assert metrics[f"{method}-filtered"]["verdict_vs_unfiltered"] in {"helps", "hurts", "no measurable effect"}
    for method in ("cvae", "cvaegan"):  # the models with an encoder: their restyle and transfer sources
        for kind in ("restyle", "transfer"):
            record = json.loads((project / f"reports/samples/{method}-{kind}.json").read_text())
            assert record["filtered"] is True and sum(record["accepted"].values()) >= 300  # 30 of each class
            assert sum(record["drawn"].values()) >= 300 and 0 < record["acceptance_rate"] <= 1
            for source in (f"{method}-{kind}", f"classic+{method}-{kind}"):
                assert metrics[source]["train_images"] == 10 * int(counts.max()), source
                assert metrics[source]["verdict_vs_classic"] in {"helps", "hurts", "no measurable effect"}
                assert metrics[source]["acceptance_rate"] == record["acceptance_rate"]  # filtered: recorded
    assert not any(
        s.startswith(("cgan-restyle", "cgan-transfer", "classic+cgan-")) and s != "classic+cgan" for s in metrics
    )
    for source, m in metrics.items():
        assert set(m["rare_per_class"]) == {"0", "1"}
        assert m["rare_accuracy_ci_low"] <= m["rare_accuracy"] <= m["rare_accuracy_ci_high"]
        assert m["macro_f1_ci_low"] <= m["macro_f1"] <= m["macro_f1_ci_high"]
        if source not in ("real", "classic"):
            assert m["delta_vs_classic"] == pytest.approx(m["accuracy"] - metrics["classic"]["accuracy"])
            assert m["verdict_vs_classic"] in {"helps", "hurts", "no measurable effect"}
    for source, m in metrics.items():
        assert 0.0 <= m["accuracy"] <= 1.0
        assert len(m["accuracy_per_seed"]) == 2
        assert m["accuracy"] == pytest.approx(sum(m["accuracy_per_seed"]) / 2)
        assert m["accuracy_ci_low"] <= m["accuracy"] <= m["accuracy_ci_high"]
        if source != "real":
            # Paired by seed: the mean delta is the difference of the means.
            assert m["delta_vs_real"] == pytest.approx(m["accuracy"] - real["accuracy"])
            assert m["verdict"] in {"helps", "hurts", "no measurable effect"}
    assert "delta_vs_real" not in real
    assert metrics["cgan"]["stylize_accuracy"] is None
    assert all(
        0.0 <= metrics[m]["stylize_accuracy"] <= 1.0 for m in ("cvae", "cvaegan", "cfm")
    )  # cfm: the flow backwards
    assert all(metrics["cgan"][k] is None for k in ("transfer_accuracy", "style_r_slant", "style_r_thickness"))
    for m in ("cvae", "cvaegan", "cfm"):
        assert 0.0 <= metrics[m]["transfer_accuracy"] <= 1.0
        assert all(
            -1.0 <= metrics[m][k] <= 1.0 for k in ("style_r_slant", "style_r_thickness") if metrics[m][k] is not None
        )
    for method in GENERATOR_NAMES:
        for key in (
            "cas",
            "fid",
            "kid",
            "precision",
            "recall",
            "density",
            "coverage",
            "label_fidelity",
            "diversity_ratio",
            "sharpness_ratio",
            "checkerboard_ratio",
        ):
            assert isinstance(metrics[method][key], float), (method, key)
    assert metrics["cgan"]["reconstruction_error"] is None
    assert metrics["cvae"]["reconstruction_error"] > 0


def test_report_explains_this_runs_numbers(repro):
    project, _, _ = repro
    report = (project / "reports/comparison.md").read_text()
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for method, label in (("cvae", "CVAE"), ("cgan", "CGAN"), ("cvaegan", "CVAE-GAN")):
        assert label in report
        assert metrics[method]["verdict"] in report or "has no measurable effect" in report
    assert "Stylisation does not apply to CGAN" in report
    assert "## Rare classes" in report
    assert report.count("| classical augmentation + CVAE-GAN |") == 2  # accuracy and rare-class tables
    for source in ("classic+cvae", "cgan", "cvaegan-filtered"):
        m = metrics[source]
        said = f"{capitalized(source_label(source))} helps beyond classical augmentation" in report
        assert said == (m["verdict_vs_classic"] == "helps")
    assert "Filtering CVAE's images (the filter accepted" in report
    # the bar it compared against, and where that bar comes from (this run's params were not swept)
    assert "rotation up to 5 degrees, shift up to 0.05 of the side, zoom 0.95-1.05; not swept on this data" in report
    assert "stylize/cvaegan/stylize.png" in report
    assert not (project / "reports/stylize/cgan/stylize.png").exists()  # no faked grid


def test_outputs_exist_where_params_yaml_says(repro):
    project, _, _ = repro
    for name in GENERATOR_NAMES:
        assert (project / f"models/generators/{name}.pt").is_file()
        assert (project / f"data/synthetic/{name}.pt").is_file()
        assert (project / f"reports/samples/{name}.png").is_file()
        assert (project / f"data/synthetic/{name}-filtered.pt").is_file()
        assert (project / f"reports/samples/{name}-filtered.png").is_file()
        record = json.loads((project / f"reports/samples/{name}-filtered.json").read_text())
        assert set(record["per_class_acceptance"]) == {str(c) for c in range(10)}
        assert (project / f"reports/generators/{name}/progress/epoch_002.png").is_file()
    assert (project / "models/classifiers/filter.pt").is_file()
    for name in ("cvae", "cvaegan", "cfm"):
        for kind in ("restyle", "transfer"):
            data, classes, meta = load_synthetic(project / f"data/synthetic/{name}-{kind}.pt")
            assert torch.bincount(data.labels).tolist() == [30] * 10 and meta["kind"] == kind
            train = Splits.load(project / "data/splits/splits.pt").train
            same = train.labels[torch.tensor(meta["sources"])] == data.labels
            assert bool(same.all()) if kind == "restyle" else not bool(same.any())
            assert (project / f"reports/samples/{name}-{kind}.png").is_file()
    assert not (project / "data/synthetic/cgan-restyle.pt").exists()
    assert (project / "reports/figures/samples_styled.png").is_file()
    record = json.loads((project / "reports/samples/cvae-filtered.json").read_text())
    assert set(record["per_class_threshold"]) == set(record["filled_below_threshold"]) == {str(c) for c in range(10)}
    for name in ("accuracy.png", "samples.png", "training_cvae.png"):
        assert (project / "reports/figures" / name).is_file()


def test_mlflow_runs_carry_the_tags_and_images(repro):
    project, _, _ = repro

    uri = f"sqlite:///{project / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["augment"], output_format="list")
    by = {(r.data.tags["augment.stage"], r.data.tags["augment.method"]): r for r in runs}
    expected = {("train_generator", m) for m in GENERATOR_NAMES}
    expected |= {("sample", m) for m in GENERATOR_NAMES}
    expected |= {("restyle", m) for m in ("cvae", "cvaegan", "cfm")}
    expected |= {("train_classifier", s) for s in SOURCES}
    expected |= {("evaluate", m) for m in GENERATOR_NAMES}
    expected |= {("compare", "all"), ("pipeline", "all")}
    assert set(by) == expected and len(runs) == len(expected)
    assert len({r.data.tags["augment.execution"] for r in runs}) == 1  # one pipeline execution
    assert all(r.info.status == "FINISHED" for r in runs)
    # one parent run per execution, every stage's run nested under it
    parent = by[("pipeline", "all")].info.run_id
    assert by[("pipeline", "all")].data.params["generators.cvae.epochs"] == "2"  # all of params.yaml
    assert all(r.data.tags.get("mlflow.parentRunId") == parent for k, r in by.items() if k[0] != "pipeline")

    # the data each run saw, as run inputs: (name, context) -> digest
    def inputs(key):
        return {
            (d.dataset.name, {t.key: t.value for t in d.tags}["mlflow.data.context"]): d.dataset.digest
            for d in by[key].inputs.dataset_inputs
        }

    train = inputs(("train_generator", "cvae"))
    assert list(train) == [("digits:train", "training")]
    clf = inputs(("train_classifier", "classic+cgan"))
    assert set(clf) == {
        ("digits:train", "training"),
        ("synthetic:cgan", "training"),
        ("digits:val", "validation"),
        ("digits:test", "evaluation"),
    }
    assert clf[("digits:train", "training")] == train[("digits:train", "training")]  # the same images
    assert inputs(("sample", "cgan"))[("synthetic:cgan", "generated")] == clf[("synthetic:cgan", "training")]
    # a filtered set: uint8 when the sample stage logs it, float32 when train_classifier reads it
    assert (
        inputs(("sample", "cgan"))[("synthetic:cgan-filtered", "generated")]
        == inputs(("train_classifier", "cgan-filtered"))[("synthetic:cgan-filtered", "training")]
    )

    client = MlflowClient(uri)
    gen = by[("train_generator", "cvaegan")]
    assert [m.step for m in client.get_metric_history(gen.info.run_id, "llike")] == [1, 2]
    assert gen.data.params["cvaegan.epochs"] == "2"
    images = [f.path for f in client.list_artifacts(gen.info.run_id, "images")]
    assert sum("progress" in p and p.endswith(".png") for p in images) == 2  # one per epoch
    assert "samples.png" in [f.path for f in client.list_artifacts(gen.info.run_id)]

    clf = by[("train_classifier", "cgan")]
    assert 0.0 <= clf.data.metrics["accuracy_mean"] <= 1.0
    assert "cgan_confusion.png" in [f.path for f in client.list_artifacts(clf.info.run_id)]
    assert by[("train_classifier", "classic+cgan")].data.params["augmentation.degrees"] == "5.0"
    sample_run = by[("sample", "cvae")]
    assert 0 < sample_run.data.metrics["acceptance_rate"] <= 1
    assert "acceptance_rate.class_9" in sample_run.data.metrics
    compare_metrics = by[("compare", "all")].data.metrics
    assert "classic_plus_cvaegan.delta_vs_classic" in compare_metrics
    assert "cvae-filtered.delta_vs_unfiltered" in compare_metrics

    compare_run = by[("compare", "all")].info.run_id
    cmp_artifacts = [f.path for f in client.list_artifacts(compare_run, "figures")]
    assert {"figures/accuracy.png", "figures/samples.png", "figures/training_cvaegan.png"} <= set(cmp_artifacts)
    assert "comparison.md" in [f.path for f in client.list_artifacts(compare_run)]
    stylize = [f.path for f in client.list_artifacts(by[("evaluate", "cvaegan")].info.run_id, "stylize")]
    assert {"stylize/stylize.png", "stylize/interpolate.png"} <= set(stylize)


def test_each_generator_is_a_registered_model_giving_the_checkpoints_images(repro):
    project, _, first = repro

    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(uri)
    for name in GENERATOR_NAMES:
        (version,) = client.search_model_versions(f"name = 'augment-{name}'")
        assert f"MLflow model models:/augment-{name}/{version.version}" in first.stdout
        registered = SyntheticDataset(f"models:/augment-{name}/{version.version}", 20, tracking_uri=uri)
        local = SyntheticDataset(project / f"models/generators/{name}.pt", 20)
        assert registered.tensors()[0].equal(local.tensors()[0])


def test_second_repro_does_no_work_and_metrics_show(repro):
    project, env, _ = repro
    again = _run(["dvc", "repro"], project, env)
    assert "Running stage" not in again.stdout
    shown = _run(["dvc", "metrics", "show", "--json"], project, env)
    assert "cvaegan" in shown.stdout and "delta_vs_real" in shown.stdout


def test_the_cvaegan_starts_from_the_cvae_through_dvc(repro):
    project, _, first = repro

    out = first.stdout
    assert out.index("Running stage 'train_generator@cvae'") < out.index("Running stage 'train_generator@cvaegan'")
    assert read_checkpoint(project / "models/generators/cvaegan.pt")["config"]["init_from"] == "cvae"
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert "models/generators/cvae.pt" in [d["path"] for d in lock["stages"]["train_generator@cvaegan"]["deps"]]
    report = (project / "reports/comparison.md").read_text()
    assert "warm starts: CVAE-GAN from the trained CVAE (generators.cvaegan.init_from)" in report
    assert "- Is the combination best? CVAE-GAN (started from CVAE): CVAE-GAN against CVAE: " in report


def test_changing_gamma_reruns_only_the_cvaegan_branch(repro):
    project, env, _ = repro
    status = _run(["dvc", "status", "--json"], project, env)
    assert json.loads(status.stdout or "{}") == {}
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["generators"]["cvaegan"]["gamma"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        changed = set(json.loads(_run(["dvc", "status", "--json"], project, env).stdout))
    finally:
        (project / "params.yaml").write_text(original)
    assert changed == {"train_generator@cvaegan"}


def test_a_sampling_setting_redraws_without_retraining(repro):
    """sample.generators.cfm is read by the stages that draw (sample, restyle, evaluate), never by
    train_generator@cfm: changing the guidance weight reruns those three, not the training."""
    project, env, _ = repro
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["sample"]["generators"]["cfm"]["guidance"] = 1.0
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        changed = set(json.loads(_run(["dvc", "status", "--json"], project, env).stdout))
    finally:
        (project / "params.yaml").write_text(original)
    assert changed == {"sample@cfm", "restyle@cfm", "evaluate@cfm"}


def test_a_new_cgan_set_reruns_only_the_classifiers_that_train_on_it(repro, tmp_path):
    """Each train_classifier@S depends on its source's manifest (augment/data/source_files.py), not
    on the whole synthetic folder: a changed CGAN reruns its set's classifiers and no other."""
    project, env, _ = repro
    copy = tmp_path / "project"  # a copy: the other tests keep the first run's outputs
    shutil.copytree(project, copy, symlinks=True)
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["generators"]["cgan"]["lr"] = 0.001
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    ran = set(re.findall(r"Running stage '([^']+)'", _run(["dvc", "repro"], copy, env).stdout))
    assert ran == {
        "train_generator@cgan",
        "sample@cgan",
        "train_classifier@cgan",
        "train_classifier@classic+cgan",
        "train_classifier@cgan-filtered",
        "evaluate@cgan",
        "compare",
    }
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    deps = [d["path"] for d in lock["stages"]["train_classifier@classic+cvaegan-restyle"]["deps"]]
    assert "data/sources/classic+cvaegan-restyle.json" in deps and "data/synthetic" not in deps


def test_a_shorter_sources_list_trains_nothing_new_and_reports_only_those(repro, tmp_path):
    """classifier.sources picks the sources without editing dvc.yaml: dropping some removes their
    stages, and only compare reruns (on a copy of the project: the other tests keep theirs)."""
    project, env, _ = repro
    copy = tmp_path / "project"
    shutil.copytree(project, copy, symlinks=True)
    chosen = ["real", "classic", "classic+cgan", "cvaegan-transfer"]
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["classifier"]["sources"] = chosen
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro"], copy, env).stdout
    assert re.findall(r"Running stage '([^']+)'", out) == ["compare"]
    metrics = json.loads((copy / "reports/metrics.json").read_text())
    assert list(metrics) == chosen
    report = (copy / "reports/comparison.md").read_text()
    assert source_label("cvaegan-transfer") in report and source_label("cvae-restyle") not in report


def test_dvc_metrics_show_is_one_short_row_per_source(repro):
    project, env, _ = repro
    out = _run(["dvc", "metrics", "show"], project, env).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    sources = yaml.safe_load((project / "params.yaml").read_text())["classifier"]["sources"]
    header = lines[0].split()  # DVC sorts the columns by name
    assert header[0] == "Path" and {"accuracy", "delta_vs_real", "delta_vs_classic"} <= set(header[1:])
    assert set(header[1:]) <= set(HEADLINE_KEYS)
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(f"reports/metrics/{s}.json" for s in sources)
    assert max(len(line) for line in lines) < 300  # was one row of 10,256 characters (388 leaves)
    metrics = json.loads((project / "reports/metrics.json").read_text())
    classic = json.loads((project / "reports/metrics/classic.json").read_text())
    assert classic["accuracy"] == metrics["classic"]["accuracy"] and "accuracy_per_seed" not in classic
    assert not any(isinstance(v, str) for v in classic.values())  # verdicts stay in metrics.json


def test_dvc_plots_show_renders_every_plot(repro):
    project, env, _ = repro
    _run(["dvc", "plots", "show", "--out", "plots_html"], project, env)
    html = (project / "plots_html/index.html").read_text()
    for title in (
        "Test accuracy per source",
        "FID in judge features",
        "Confusion matrix (cvaegan",
        "Confusion matrix (real",
        "accuracy.png",
        *(f"training_{m}.png" for m in ("cvae", "cgan", "cvaegan")),  # the methods, none named in dvc.yaml
        *(f"stylize/{m}/stylize.png" for m in ("cvae", "cvaegan")),
    ):
        assert title in html, title


def test_a_dvc_remote_round_trip_leaves_repro_nothing_to_do(repro, tmp_path):
    """A team's flow: push the pipeline's outputs to a shared remote (a local folder here; the
    README shows an object store), clone the project afresh, pull, and `dvc repro` has no work."""
    project, env, _ = repro
    remote = tmp_path / "remote"
    _run(["dvc", "remote", "add", "--default", "shared", str(remote)], project, env)
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "results and the shared remote"]):
        _run(cmd, project, env)
    _run(["dvc", "push"], project, env)
    assert any(p.is_file() for p in remote.rglob("*"))
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(project), str(clone)], tmp_path, env)
    assert not (clone / "models/generators/cvaegan.pt").exists()  # not in git: in the remote
    _run(["dvc", "pull"], clone, env)
    assert (clone / "models/generators/cvaegan.pt").read_bytes() == (
        project / "models/generators/cvaegan.pt"
    ).read_bytes()
    assert json.loads(_run(["dvc", "status", "--json"], clone, env).stdout or "{}") == {}
    again = _run(["dvc", "repro"], clone, env)
    assert "Running stage" not in again.stdout
    assert (clone / "reports/metrics.json").read_bytes() == (project / "reports/metrics.json").read_bytes()


def test_dvc_exp_run_with_a_param_override(repro):
    project, env, _ = repro
    # evaluation.k (the PRDC neighbours): reruns judge, evaluate@* and compare, a third of what a
    # generator's parameter would (which stages those rerun: the gamma test above)
    _run(["dvc", "exp", "run", "-S", "evaluation.k=3", "-n", "k-three"], project, env)
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], project, env).stdout)
    text = json.dumps(shown)
    assert "k-three" in text and '"k": 3' in text and "delta_vs_real" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["gan"], "invalid choice: 'gan'"),  # a fixed list of choices: argparse's message
        (["cvae", "--set", "generators.cvae.epochs=-1"], "generators.cvae.epochs: must be an integer >= 1"),
        (["cvae", "--params", "nope.yaml"], "params file not found"),
    ],
)
def test_stage_argument_errors_exit_2(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    called = []
    try:
        code = run_stage("train_generator", lambda p, a: called.append(a), argv, choices=["cvae", "cgan", "cvaegan"])
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code
    assert code == 2 and not called
    assert message in capsys.readouterr().err


def test_stage_with_missing_input_names_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")

    assert run_stage("train_generator", train_generator_stage, ["cvae"], choices=["cvae"]) == 2
    assert "data/splits/splits.pt" in capsys.readouterr().err


def test_the_restyle_stage_without_the_filter_writes_the_styled_sets_as_drawn(repro, tmp_path, monkeypatch):
    project, _, _ = repro
    monkeypatch.chdir(project)  # the repro's splits and generators; every output into tmp_path
    out = [f"paths.{key}={tmp_path / key}" for key in ("synthetic", "reports", "sources")]
    argv = ["cvaegan", "--set", "sample.styled.filter=false", "--set", "tracking.enabled=false"]
    assert run_stage("restyle", restyle_stage, argv + [a for o in out for a in ("--set", o)], choices=RESTYLE) == 0
    params = load_params(project / "params.yaml")
    model, _ = load_generator(project / "models/generators/cvaegan.pt")
    splits = Splits.load(project / "data/splits/splits.pt")
    for kind in ("restyle", "transfer"):
        record = json.loads((tmp_path / f"reports/samples/cvaegan-{kind}.json").read_text())
        assert record == {"method": "cvaegan", "kind": kind, "per_class": 30, "noise": 1.0, "filtered": False}
        drawn, _, meta = load_synthetic(tmp_path / f"synthetic/cvaegan-{kind}.pt")
        plain = styled_set(model, splits.train, kind, 30, 1.0, params.sample.seed, params.sample.batch_size)
        assert (
            torch.equal(drawn.images, quantize(plain.images).float() / 255)
            and meta["sources"] == plain.sources.tolist()
        )
        assert "filter" not in meta
        filtered = json.loads((project / f"reports/samples/cvaegan-{kind}.json").read_text())
        assert filtered["filtered"] is True  # the repro's own sets went through the filter


def test_every_param_that_changes_results_is_a_dependency_of_some_stage():
    """So that `dvc exp run -S KEY=VALUE` (and editing params.yaml) reruns what KEY affects.
    `paths` is templated into dvc.yaml itself and `tracking` changes no output."""
    declared = {entry for stage in expanded_stages(ROOT / "dvc.yaml", Params().to_dict()) for entry in stage.params}
    covered = {key for key in all_keys() if any(key == d or key.startswith(d + ".") for d in declared)}
    missing = set(all_keys()) - covered - {k for k in all_keys() if k.startswith(("paths.", "tracking."))}
    assert not missing, f"params no stage depends on: {sorted(missing)}"
    assert {f"generators.{m}" for m in GENERATOR_NAMES} <= declared
