"""A label budget (data.labelled): the split, the pool that never carries a label, the loop's
two streams, each generator's route to the pool, self-training's pseudo-labels, bad input."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import torch
from mlflow.tracking import MlflowClient
from PIL import Image

from augment.core.labels import UNLABELLED
from augment.data.labeled import DataError, LabeledImages, Splits
from augment.data.splits import load_splits
from augment.models import CFM, build_model
from augment.models.base import ConditionalGenerator
from augment.params.config import CFMConfig, CGANConfig, ConfigError, DataConfig
from augment.params.file import params_from_dict
from augment.params.methods import expected_start, unlabelled_route
from augment.params.sources import PSEUDO, SELF_TRAINING, parse_source, sources_using
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import load_synthetic
from augment.training.checkpoint import read_checkpoint
from augment.training.loop import fit
from evaluation.classifiers.pseudo import pseudo_label
from pipelines.prepare import prepare as prepare_stage
from pipelines.stage import run_stage
from tests.conftest import TINY_CFM, TINY_CFM_SAMPLING, copy_project, tiny_params

BUDGET = 30  # 3 labelled images per class of the digits' 10


@pytest.fixture(scope="module")
def budget():
    """The digits split with and without a label budget of 30."""
    return load_splits(DataConfig(labelled=BUDGET)), load_splits(DataConfig())


def _rows(images: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in images}


# --------------------------------------------------------------------------------------------
# The split
# --------------------------------------------------------------------------------------------


def test_the_budget_keeps_n_labels_class_balanced_and_the_rest_is_the_pool(budget):
    with_budget, without = budget
    assert torch.bincount(with_budget.train.labels, minlength=10).tolist() == [3] * 10
    assert torch.bincount(with_budget.val.labels, minlength=10).tolist() == [3] * 10  # N validation labels
    assert with_budget.pool is not None and len(with_budget.pool) == len(without.train) - BUDGET
    # labelled + pool are exactly the training split without a budget, and disjoint
    assert _rows(with_budget.train.images) | _rows(with_budget.pool.images) == _rows(without.train.images)
    assert not _rows(with_budget.train.images) & _rows(with_budget.pool.images)
    assert _rows(with_budget.val.images) <= _rows(without.val.images)
    assert torch.equal(with_budget.test.images, without.test.images)  # the test split is untouched
    assert without.pool is None and len(without.unlabelled) == 0


def test_the_pool_carries_no_label_in_memory_or_in_the_file(budget, tmp_path):
    splits = budget[0]
    assert bool((splits.pool.labels == UNLABELLED).all())
    splits.save(tmp_path / "splits.pt")
    raw = torch.load(tmp_path / "splits.pt", weights_only=True)
    assert set(raw["pool"]) == {"images"}  # no labels written
    again = Splits.load(tmp_path / "splits.pt")
    assert torch.equal(again.pool.images, splits.pool.images) and bool((again.pool.labels == UNLABELLED).all())
    with pytest.raises(ValueError, match="UNLABELLED"):
        Splits(splits.train, splits.val, splits.test, splits.classes, pool=splits.train)


def test_the_budget_is_seeded():
    one, again = load_splits(DataConfig(labelled=20)), load_splits(DataConfig(labelled=20))
    other = load_splits(DataConfig(labelled=20, seed=1))
    assert torch.equal(one.train.images, again.train.images)
    assert not torch.equal(one.train.images, other.train.images)


def test_a_folder_of_unlabelled_images_joins_the_pool(tmp_path):
    folder = tmp_path / "unlabelled" / "any" / "layout"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.new("L", (16, 16), color=40 * i).save(folder / f"{i}.png")  # resized to 8x8
    (folder / "notes.txt").write_text("not an image")
    splits = load_splits(DataConfig(unlabelled_root=str(tmp_path / "unlabelled")))
    full = load_splits(DataConfig())
    assert len(splits.train) == len(full.train) and len(splits.pool) == 3
    assert tuple(splits.pool.images.shape[1:]) == (1, 8, 8)
    assert torch.allclose(splits.pool.images[1], torch.full((1, 8, 8), 40 / 255))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"labelled": 5}, "data.labelled: 5 labelled images for 10 classes"),
        ({"labelled": 5000}, "data.labelled: asks for 5000 labelled images but the training split holds"),
        ({"labelled": 100, "train_size": 100}, "the unlabelled pool is empty"),
        ({"labelled": 30, "imbalance": {"classes": [0]}}, "cannot be combined with data.imbalance.classes"),
        ({"unlabelled_root": "/no/such/folder"}, "data.unlabelled_root: /no/such/folder: folder not found"),
        ({"unlabelled_root": "/etc/hostname"}, "data.unlabelled_root: /etc/hostname: is a file, not a folder"),
    ],
)
def test_bad_budgets_are_one_line(data, message):
    with pytest.raises(DataError, match=message):
        load_splits(
            params_from_dict({"data": data, "classifier": {"sources": ["real", "classic", *SELF_TRAINING]}}).data
        )


def test_a_bad_budget_stops_prepare_with_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sources = "[real, classic, pseudo, classic+pseudo]"
    (tmp_path / "params.yaml").write_text(f"data:\n  labelled: 5\nclassifier:\n  sources: {sources}\n")
    argv = ["--set", "tracking.enabled=false"]
    assert run_stage("prepare", prepare_stage, argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "data.labelled: 5 labelled images for 10 classes" in err
    assert not (tmp_path / "data").exists()


def test_an_empty_unlabelled_folder_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="data.unlabelled_root: no images in"):
        load_splits(DataConfig(unlabelled_root=str(tmp_path / "empty")))


def test_the_pool_is_stored_in_a_seeded_random_order_not_the_datasets(tmp_path):
    """An ImageFolder lists its images class by class: the pool must not keep that order."""
    from augment.data.splitting import label_budget

    labels = torch.arange(10).repeat_interleave(30)  # [300] sorted by class, as an ImageFolder
    train, val = torch.arange(0, 300, 2), torch.arange(1, 300, 2)
    _, _, pool = label_budget(labels, train, val, 10, DataConfig(labelled=20))
    _, _, again = label_budget(labels, train, val, 10, DataConfig(labelled=20))
    assert torch.equal(pool, again) and not torch.equal(pool, pool.sort().values)
    runs = int((labels[pool][1:] != labels[pool][:-1]).sum())  # class changes along the pool
    assert runs > 60  # about 117 for a random order; 9 in the dataset's order


def test_a_budget_without_the_self_training_bars_is_one_line():
    with pytest.raises(ConfigError, match="must include 'pseudo' and 'classic\\+pseudo' with a label budget"):
        params_from_dict({"data": {"labelled": 30}, "classifier": {"sources": ["real", "classic"]}})


def test_resume_refuses_a_checkpoint_trained_the_other_way(budget, tmp_path):
    from augment.training.checkpoint import CheckpointError

    splits = budget[0]
    model = build_model("cgan", CGANConfig(latent_dim=4, width=8), splits.image_shape, 10, unlabelled=True)
    out = tmp_path / "cgan.pt"
    fit(model, splits.train, splits.classes, epochs=1, batch_size=16, seed=0, checkpoint_path=out, progress=False,
        steps_per_epoch=1, unlabelled=splits.pool)  # fmt: skip
    plain = build_model("cgan", CGANConfig(latent_dim=4, width=8, epochs=2), splits.image_shape, 10)
    with pytest.raises(CheckpointError, match="was trained with an unlabelled pool"):
        fit(plain, splits.train, splits.classes, epochs=2, batch_size=16, seed=0, checkpoint_path=out, resume=True,
            progress=False, steps_per_epoch=1)  # fmt: skip


def test_self_training_sources_need_a_pool():
    with pytest.raises(ConfigError, match="'pseudo' learns from the unlabelled pool"):
        params_from_dict({"classifier": {"sources": ["real", "classic", "pseudo"]}})
    ok = params_from_dict({"data": {"labelled": 30}, "classifier": {"sources": ["real", "classic", *SELF_TRAINING]}})
    assert ok.classifier.sources[2:] == list(SELF_TRAINING)
    assert parse_source("classic+pseudo").classic and parse_source("pseudo").synthetic == PSEUDO
    assert sources_using(PSEUDO) == SELF_TRAINING


# --------------------------------------------------------------------------------------------
# The loop: a labelled batch followed by a pool batch
# --------------------------------------------------------------------------------------------


class Recorder(ConditionalGenerator):
    """A generator that learns nothing and records the batches it is given."""

    name = "cvae"  # any registered name: the checkpoint needs one
    config_class = CFMConfig
    takes_unlabelled = True
    loss_names = ("loss",)
    sampler = "net"

    def __init__(self, config, image_shape, num_classes):
        super().__init__(config, image_shape, num_classes)
        self.net = torch.nn.Linear(1, 1)
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def make_optimizers(self):
        return {"net": torch.optim.SGD(self.net.parameters(), lr=0.0)}

    def train_step(self, x, y, optimizers):
        self.seen.append((x.clone(), y.clone()))
        return {"loss": 0.0}


def test_every_step_is_a_labelled_batch_then_a_pool_batch_and_an_epoch_is_one_pass_over_the_pool(budget, tmp_path):
    splits = budget[0]
    model = Recorder(CFMConfig(), splits.image_shape, 10)
    model.use_unlabelled()
    fit(model, splits.train, splits.classes, epochs=1, batch_size=16, seed=0, checkpoint_path=tmp_path / "m.pt",
        progress=False, unlabelled=splits.pool)  # fmt: skip
    # one pass over the labelled images and the pool (the last partial batch dropped)
    assert len(model.seen) == (len(splits.train) + len(splits.pool)) // 16
    labelled, pool = _rows(splits.train.images), _rows(splits.pool.images)
    for x, y in model.seen:
        assert (y[:16] >= 0).all() and (y[16:] == UNLABELLED).all() and len(y) == 32
        assert _rows(x[:16]) <= labelled and _rows(x[16:]) <= pool  # no pool image with a label
    # the labelled images cycle through their passes: every one of the 30 is seen
    assert set().union(*(_rows(x[:16]) for x, _ in model.seen)) == labelled


def test_a_model_must_take_the_pool_before_training_on_it(budget, tmp_path):
    splits = budget[0]
    with pytest.raises(ValueError, match="use_unlabelled"):
        fit(Recorder(CFMConfig(), splits.image_shape, 10), splits.train, splits.classes, epochs=1, batch_size=16,
            seed=0, checkpoint_path=tmp_path / "m.pt", progress=False, unlabelled=splits.pool)  # fmt: skip


def test_cfm_trains_an_unlabelled_image_as_its_no_label_class():
    model = build_model("cfm", CFMConfig(width=8, label_dropout=0.0), (1, 8, 8), 10, unlabelled=True)
    seen = []
    model.velocity.register_forward_hook(lambda m, args, out: seen.append(args[2].clone()))
    y = torch.tensor([3, 5, UNLABELLED, UNLABELLED])
    model.losses(torch.rand(4, 1, 8, 8), y)
    assert seen[0].tolist() == [3, 5, 10, 10]  # K = 10: "no label"
    assert CFM.takes_unlabelled


# --------------------------------------------------------------------------------------------
# Routes: native, pseudo-labels, none
# --------------------------------------------------------------------------------------------


def test_each_generator_takes_the_pool_its_own_way_or_through_pseudo_labels(tmp_path):
    p = tiny_params(tmp_path)
    assert unlabelled_route(p, "cfm") == "none"  # no budget: today's behaviour
    p.data.labelled = 30
    assert unlabelled_route(p, "cfm") == "native"
    assert expected_start(p, "cfm") == p.paths.splits
    p.generators.unlabelled = "pseudo"
    assert unlabelled_route(p, "cfm") == "pseudo"
    assert expected_start(p, "cfm") == str(tmp_path / "data/synthetic/pseudo.pt")
    p.generators.unlabelled = "none"
    assert unlabelled_route(p, "cfm") == "none"


def test_a_generator_without_its_own_way_gets_the_pseudo_labels(tmp_path, monkeypatch):
    p = tiny_params(tmp_path)
    p.data.labelled = 30
    monkeypatch.setattr(CFM, "takes_unlabelled", False)
    assert unlabelled_route(p, "cfm") == "pseudo"


# --------------------------------------------------------------------------------------------
# Self-training's pseudo-labels
# --------------------------------------------------------------------------------------------


class FixedTeacher(torch.nn.Module):
    """Logits fixed per image: image i's first pixel says which row of ``logits`` it gets."""

    num_classes = 3

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[x[:, 0, 0, 0].long()]


def test_pseudo_labels_keep_the_confident_images_with_the_teachers_class():
    logits = torch.log(torch.tensor([[0.97, 0.02, 0.01], [0.5, 0.4, 0.1], [0.01, 0.01, 0.98]]))
    images = torch.arange(3).float()[:, None, None, None].expand(3, 1, 2, 2).clone()  # [3, 1, 2, 2]
    pool = LabeledImages(images, torch.full((3,), UNLABELLED))
    kept, record = pseudo_label(FixedTeacher(logits), pool, threshold=0.95)
    assert kept.labels.tolist() == [0, 2] and torch.equal(kept.images, images[[0, 2]])
    assert record["kept"] == 2 and record["kept_per_class"] == [1, 0, 1] and record["pool_images"] == 3
    assert record["mean_confidence_kept"] == pytest.approx(0.975, abs=1e-5)


# --------------------------------------------------------------------------------------------
# End to end: a tiny `dvc repro` with the option on
# --------------------------------------------------------------------------------------------

BUDGET_RUN = {
    "data": {"labelled": BUDGET},
    "generators": {
        "methods": {
            "cvae": "data/splits",
            "cvaegan": "models/generators/cvae.pt",
            "cgan": "data/splits",
            "cfm": "data/splits",
        },  # fmt: skip
        **{n: {"epochs": 1, "latent_dim": 4, "width": 8, "steps_per_epoch": 4} for n in ("cvae", "cgan", "cvaegan")},
        "cfm": dict(TINY_CFM),
    },
    "sample": {
        "per_class": 10,
        "styled": {"methods": []},
        "generators": {"cvae": {}, "cgan": {}, "cvaegan": {}, "cfm": dict(TINY_CFM_SAMPLING)},
    },
    "classifier": {
        "sources": ["real", "classic", "pseudo", "classic+pseudo", "cvaegan", "classic+cfm"],
        "seeds": [0, 1],
        "steps": 60,
        "width": 8,
        "pseudo": {"threshold": 0.2},  # the tiny teacher is unsure: keep some of the pool
    },
    "evaluation": {"max_images": 50, "kid_subsets": 2, "kid_subset_size": 50, "judge": {"steps": 40, "width": 8}},
}


@pytest.fixture(scope="module")
def budget_repro(tmp_path_factory):
    project = tmp_path_factory.mktemp("budget")
    env = copy_project(project, BUDGET_RUN)
    result = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return project, result.stdout


def test_a_budget_run_trains_every_generator_on_the_pool_and_measures_it_against_self_training(budget_repro):
    project, out = budget_repro
    assert "train 30 labelled, unlabelled pool 1264" in out
    for name in ("cvae", "cgan", "cvaegan", "cfm"):  # each took the pool its own way
        assert read_checkpoint(project / f"models/generators/{name}.pt").get("unlabelled") is True
    pseudo, classes, meta = load_synthetic(project / "data/synthetic/pseudo.pt")
    record = json.loads((project / "reports/samples/pseudo.json").read_text())
    assert len(pseudo) == record["kept"] == meta["record"]["kept"] > 0 and record["pool_images"] == 1264
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert list(metrics) == ["real", "classic", "pseudo", "classic+pseudo", "cvaegan", "classic+cfm"]
    bar = max(SELF_TRAINING, key=lambda s: metrics[s]["accuracy"])
    for source in ("cvaegan", "classic+cfm"):
        m = metrics[source]
        assert m["self_training_bar"] == bar
        expected = [a - b for a, b in zip(m["accuracy_per_seed"], metrics[bar]["accuracy_per_seed"], strict=True)]
        assert m["delta_vs_self_training"] == pytest.approx(sum(expected) / 2)
    assert metrics["pseudo"]["train_images"] == BUDGET + record["kept"]  # every confident pool image
    report = (project / "reports/comparison.md").read_text()
    assert "label budget: 30 labelled training images" in report and "unlabelled pool 1264 images" in report
    assert "Δ vs self-training" in report
    assert re.search(r"With this label budget, (no source beats self-training|.* beat self-training)", report)


def test_the_pool_never_reaches_a_classifier_or_the_splits_file_with_a_label(budget_repro):
    project, _ = budget_repro
    splits = Splits.load(project / "data/splits/splits.pt")
    assert len(splits.train) == BUDGET and bool((splits.pool.labels == UNLABELLED).all())
    real = json.loads((project / "reports/classifiers/real.json").read_text())
    assert all(run["train_images"] == BUDGET for run in real["runs"])


def test_mlflow_records_the_label_budget_and_the_pool(budget_repro):
    project, _ = budget_repro
    # a client of its own: mlflow.set_tracking_uri would set MLFLOW_TRACKING_URI for every later test
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("augment").experiment_id])
    by = {(r.data.tags["augment.stage"], r.data.tags["augment.method"]): r for r in runs}
    generator = by[("train_generator", "cvae")].data.params
    assert generator["labelled_images"] == "30" and generator["pool_images"] == "1264"
    assert generator["unlabelled_route"] == "native" and generator["data.labelled"] == "30"
    assert by[("train_classifier", "pseudo")].data.params["pool_images"] == "1264"
    teacher = by[("pseudo_label", "pseudo")].data
    assert teacher.params["pool_images"] == "1264" and teacher.metrics["kept"] > 0


def test_synthetic_dataset_serves_a_generator_trained_with_the_pool(budget_repro):
    project, _ = budget_repro
    data = SyntheticDataset(project / "models/generators/cvaegan.pt", 20)
    image, label = data[3]
    assert image.mode == "L" and label == data.targets[3]


# --------------------------------------------------------------------------------------------
# The data-size and regime-map commands size the label budget
# --------------------------------------------------------------------------------------------


@pytest.fixture
def budget_project(tmp_path, monkeypatch):
    """A project whose params.yaml has a label budget, and its prepared splits: 100 labelled
    images of 10 classes and a pool of 7,900."""
    (tmp_path / "params.yaml").write_text(
        "paths:\n  splits: prepared\ndata:\n  labelled: 100\n"
        "classifier:\n  sources: [real, classic, pseudo, classic+pseudo, cvaegan, classic+cvaegan]\n"
    )
    train = LabeledImages(torch.zeros(100, 1, 1, 1), torch.arange(100) % 10)
    pool = LabeledImages(torch.zeros(7900, 1, 1, 1), torch.full((7900,), UNLABELLED))
    small = LabeledImages(torch.zeros(10, 1, 1, 1), torch.arange(10))
    Splits(train=train, val=small, test=small, classes=[str(i) for i in range(10)], pool=pool).save(
        tmp_path / "prepared" / "splits.pt"
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_with_a_budget_the_data_size_command_sizes_the_label_budget(budget_project, capsys):
    from pipelines.data_size import main
    from tests.test_data_size import FakeDvc

    dvc = FakeDvc()
    assert main(["run", "--per-class", "10,20", "--poll-seconds", "0"], runner=dvc) == 0
    queued = [c for c in dvc.calls if c[:3] == ["exp", "run", "--queue"]]
    assert [c[c.index("-S") + 1] for c in queued] == ["data.labelled=100", "data.labelled=200"]
    assert "queued exp-0 (data.labelled=100" in capsys.readouterr().out
    assert main(["run", "--per-class", "10,800"], runner=FakeDvc()) == 2  # 8,000: nothing left for the pool
    assert (
        "data.labelled=8000 (800 per class x 10 classes): more labelled images than the 7999" in capsys.readouterr().err
    )


def test_with_a_budget_the_regime_map_sizes_the_label_budget_and_needs_the_self_training_bars(budget_project, capsys):
    from evaluation.regime_map.cells import Cell, cell_settings
    from pipelines.regime_map import main

    assert cell_settings(Cell(200, 4.0, 500, per_class=20), 5, ["real"], "data.labelled")[0] == "data.labelled=200"
    assert main(["run", "--per-class", "20", "--sources", "real,classic", "--poll-seconds", "0"], runner=None) == 2
    err = capsys.readouterr().err
    assert "--sources: with a label budget (data.labelled) the map needs the self-training bars" in err
    # by default the map adds them itself
    from tests.test_data_size import FakeDvc

    dvc = FakeDvc()
    main(["run", "--per-class", "20", "--poll-seconds", "0"], runner=dvc)
    queued = [c for c in dvc.calls if c[:3] == ["exp", "run", "--queue"]]
    assert queued and all("'pseudo','classic+pseudo'" in " ".join(c) for c in queued)


def test_a_generator_on_the_pseudo_route_trains_on_the_labelled_images_and_the_pseudo_labels(
    budget, tmp_path, monkeypatch
):
    import augment.training.generator_training as generator_training
    from augment.synthesis.synthetic_files import pseudo_set_for, save_synthetic

    splits = budget[0]
    p = tiny_params(tmp_path, epochs=1)
    p.data.labelled, p.generators.unlabelled = BUDGET, "pseudo"
    with pytest.raises(DataError, match="run `dvc repro pseudo_label`"):
        pseudo_set_for(p, "cgan", splits.classes)
    pseudo = LabeledImages(splits.pool.images[:70], torch.arange(70) % 10)  # as a teacher would label them
    save_synthetic(tmp_path / "data/synthetic/pseudo.pt", pseudo.images, pseudo.labels, splits.classes)
    seen = {}
    real_fit = generator_training.fit

    def spy(model, data, classes, **kwargs):
        seen.update(data=data, **kwargs)
        return real_fit(model, data, classes, **kwargs)

    monkeypatch.setattr(generator_training, "fit", spy)
    loaded = pseudo_set_for(p, "cgan", splits.classes)
    model, _, out = generator_training.train_generator(p, "cgan", splits=splits, pseudo=loaded, progress=False)
    assert not model.unlabelled and read_checkpoint(out).get("unlabelled") is None  # labels only, no pool game
    assert seen["unlabelled"] is None and len(seen["data"]) == BUDGET + 70
    assert torch.equal(seen["data"].labels[BUDGET:], pseudo.labels)  # the pseudo-labels, never the pool's
    # steps_per_epoch 0: one pass over the labelled images and the pool, as on the other routes
    assert seen["steps_per_epoch"] == (BUDGET + len(splits.pool)) // p.generators.cgan.batch_size
    with pytest.raises(ConfigError, match="learns from the unlabelled pool through its pseudo-labels"):
        generator_training.train_generator(p, "cgan", splits=splits, progress=False)


def test_the_pseudo_route_names_the_file_its_training_reads_when_params_load():
    with pytest.raises(
        ConfigError,
        match=r"generators.methods.cvae: 'data/splits' is not the file its training reads .*; set it to data/synthetic/pseudo.pt",
    ):
        params_from_dict(
            {
                "data": {"labelled": 30},
                "generators": {"unlabelled": "pseudo"},
                "classifier": {"sources": ["real", "classic", *SELF_TRAINING]},
            }
        )


def test_the_judge_learns_from_every_training_label_as_the_instrument(tmp_path):
    from pipelines.judge import instrument_splits

    p = tiny_params(tmp_path)
    p.data.labelled = BUDGET
    full, budget_splits = instrument_splits(p), load_splits(p.data)
    assert len(full.train) == len(budget_splits.train) + len(budget_splits.pool) and full.pool is None
    assert torch.equal(full.test.images, budget_splits.test.images)
    assert len(full.val) > len(budget_splits.val) == BUDGET


def _result(source: str, accuracies: list[float]) -> dict:
    runs = [{"seed": i, "accuracy": a, "macro_f1": a, "train_images": 100} for i, a in enumerate(accuracies)]
    return {"source": source, "runs": runs}


def test_a_source_is_measured_against_the_stronger_self_training_bar_and_the_report_says_it():
    from evaluation.report.bar import self_training_sentences
    from evaluation.report.entries import comparison

    results = {
        "real": _result("real", [0.80, 0.81, 0.82]),
        "classic": _result("classic", [0.85, 0.86, 0.87]),
        "pseudo": _result("pseudo", [0.90, 0.91, 0.92]),
        "classic+pseudo": _result("classic+pseudo", [0.93, 0.94, 0.95]),
        "cvaegan": _result("cvaegan", [0.88, 0.885, 0.89]),  # beats classic, not self-training
    }
    metrics = comparison(results)
    assert metrics["cvaegan"]["self_training_bar"] == "classic+pseudo"
    assert metrics["cvaegan"]["delta_vs_self_training"] == pytest.approx(0.885 - 0.94)
    assert "delta_vs_self_training" not in metrics["pseudo"] and "delta_vs_self_training" not in metrics["classic"]
    sentences = self_training_sentences(metrics)
    assert sentences[0].startswith("CVAE-GAN does worse than classical augmentation + self-training: -5.50 points")
    assert sentences[-1] == (
        "With this label budget, no source beats self-training (classical augmentation + self-training) "
        "(CVAE-GAN beat classical augmentation, but not self-training: not worth a generator's cost here)."
    )
    assert self_training_sentences(comparison({k: results[k] for k in ("real", "classic", "cvaegan")})) == []
