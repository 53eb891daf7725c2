"""Generators as MLflow models: log, register, load back by ``models:/`` URI (the same bytes and
the same images as the checkpoint), runs nested under one parent per execution, datasets as run
inputs, and refusal of foreign or hostile registered models (one line, exit 2, nothing run)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from augment.cli import main
from augment.models import build_model
from augment.params.config import CFMConfig, CFMSampling, CVAEConfig, Params
from augment.synthesis.synthetic import SyntheticDataset
from augment.tracking.mlflow_model import CHECKPOINT, fetch_checkpoint, save_model
from augment.tracking.runs import EXPERIMENT_TAGS, TAG_EXECUTION, TAG_STAGE, Tracker, runs_page_url
from augment.tracking.session import git_tags
from augment.training.checkpoint import CheckpointError, save_generator
from tests.conftest import ROOT

CLASSES = ["zero", "one", "two"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite tracking store for the module (creating one costs seconds), a tiny CVAE
    checkpoint, and that checkpoint logged and registered by a train_generator-like run."""
    folder = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    torch.manual_seed(0)
    checkpoint = folder / "cvae.pt"
    save_generator(checkpoint, build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 3), CLASSES)
    params = Params()
    params.tracking.uri = uri
    os.environ["AUGMENT_EXECUTION_ID"] = "test-execution"
    try:
        with Tracker(params, stage="train_generator", method="cvae", root=folder) as tracker:
            images, labels = torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
            tracker.log_dataset(images, labels, "digits:train", "data/splits/splits.pt", "training")
            model_uri = tracker.log_generator(checkpoint)
            run_id = tracker.run_id
    finally:
        del os.environ["AUGMENT_EXECUTION_ID"]
    return {
        "uri": uri,
        "params": params,
        "checkpoint": checkpoint,
        "model_uri": model_uri,
        "run_id": run_id,
        "folder": folder,
    }


@pytest.fixture
def env_store(store, monkeypatch):
    """The module's store as MLFLOW_TRACKING_URI, as a user with a shared server would set it."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    return store


def test_a_registered_generator_loads_back_with_the_checkpoints_bytes_and_images(store, tmp_path):
    assert store["model_uri"] == "models:/augment-cvae/1"
    # fetched from the store the call names (this process never set MLflow's global tracking URI:
    # the tracker logs from its own process)
    checkpoint = fetch_checkpoint(store["model_uri"], tmp_path, store["uri"])
    folder = checkpoint.parents[len(Path(CHECKPOINT).parts) - 1]
    assert checkpoint == folder / CHECKPOINT
    assert (folder / CHECKPOINT).read_bytes() == store["checkpoint"].read_bytes()
    spec = yaml.safe_load((folder / "MLmodel").read_text())
    assert spec["flavors"]["augment"]["model"] == "cvae" and spec["flavors"]["augment"]["classes"] == CLASSES
    assert "label" in spec["signature"]["inputs"] and "[-1, 1, 8, 8]" in spec["signature"]["outputs"]

    from_registry = SyntheticDataset(store["model_uri"], 9, seed=3, tracking_uri=store["uri"])
    from_file = SyntheticDataset(store["checkpoint"], 9, seed=3)
    assert from_registry.classes == CLASSES and from_registry.model_name == "cvae"
    torch.testing.assert_close(from_registry.tensors()[0], from_file.tensors()[0], rtol=0, atol=0)
    assert "models:/augment-cvae/1" in repr(from_registry)


def test_an_alias_and_the_generic_pyfunc_loader_give_the_same_images(store):
    client = MlflowClient(store["uri"])
    client.set_registered_model_alias("augment-cvae", "champion", "1")
    by_alias = SyntheticDataset("models:/augment-cvae@champion", 6, seed=1, tracking_uri=store["uri"])
    expected = SyntheticDataset(store["checkpoint"], 6, seed=1, batch_size=6).tensors()[0]  # [6, 1, 8, 8]
    torch.testing.assert_close(by_alias.tensors()[0], expected, rtol=0, atol=0)

    mlflow.set_tracking_uri(store["uri"])
    pyfunc = mlflow.pyfunc.load_model(store["model_uri"])
    images = pyfunc.predict(pd.DataFrame({"label": by_alias.targets}), params={"seed": 1})  # [6, 1, 8, 8]
    torch.testing.assert_close((torch.from_numpy(images) * 255).round(), expected * 255, rtol=0, atol=0)


def test_the_pyfunc_draws_with_the_sampling_settings_its_params_name(tmp_path):
    """cfm's sampler settings are no checkpoint's: the MLflow model takes them as params (with
    the class's defaults in its signature), and each call draws with exactly those it names."""
    torch.manual_seed(0)
    model = build_model("cfm", CFMConfig(width=8, ema=0.0), (1, 8, 8), 3)  # its zero-velocity start moved
    optimizers = model.make_optimizers()
    for _ in range(5):
        model.train_step(torch.rand(6, 1, 8, 8), torch.tensor([0, 1, 2] * 2), optimizers)
    save_generator(tmp_path / "cfm.pt", model, CLASSES)
    save_model(tmp_path / "cfm.pt", tmp_path / "model")
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    specs = {p.name: p.default for p in pyfunc.metadata.signature.params}
    assert specs == {"seed": 0, **dataclasses.asdict(CFMSampling())}
    labels = pd.DataFrame({"label": [0, 1, 2, 0]})

    def drawn(**sampling):
        data = SyntheticDataset(tmp_path / "cfm.pt", labels=[0, 1, 2, 0], seed=1, sampling=sampling)
        return data.tensors()[0]  # [4, 1, 8, 8], quantised to 8 bits like a stored set

    euler = pyfunc.predict(labels, params={"seed": 1, "solver": "euler", "sample_steps": 1})
    torch.testing.assert_close((torch.from_numpy(euler) * 255).round(), drawn(solver="euler", sample_steps=1) * 255)
    default = pyfunc.predict(labels, params={"seed": 1})  # the next call: the defaults again
    torch.testing.assert_close((torch.from_numpy(default) * 255).round(), drawn() * 255)
    assert not torch.equal(torch.from_numpy(euler), torch.from_numpy(default))


def test_augment_info_and_sample_take_a_models_uri(env_store, tmp_path, capsys):
    assert main(["info", env_store["model_uri"], "--json"]) == 0
    assert '"model": "cvae"' in capsys.readouterr().out
    out = tmp_path / "s.pt"
    assert (
        main(
            [
                "sample",
                env_store["model_uri"],
                "-n",
                "6",
                "--out",
                str(out),
                "--no-progress",
                "--set",
                f"tracking.uri={env_store['uri']}",
                "--set",
                "device=cpu",
            ]
        )
        == 0
    )
    saved = torch.load(out, weights_only=True)
    expected = SyntheticDataset(env_store["checkpoint"], 6, seed=Params().sample.seed).tensors()[0]
    torch.testing.assert_close(saved["images"].float() / 255, expected, rtol=0, atol=0)


def test_the_stage_run_is_nested_under_its_executions_parent_with_its_inputs(store):
    client = MlflowClient(store["uri"])
    run = client.get_run(store["run_id"])
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.data.tags[TAG_STAGE] == "pipeline" and parent.data.tags[TAG_EXECUTION] == "test-execution"
    assert parent.info.status == "FINISHED"
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == "digits:train" and len(dataset_input.dataset.digest) == 12
    assert '"features_shape": [6, 1, 8, 8]' in dataset_input.dataset.profile
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"
    experiment = client.get_experiment(run.info.experiment_id)
    assert all(experiment.tags[k] == v for k, v in EXPERIMENT_TAGS.items())
    assert runs_page_url(store["params"], store["uri"], "http://h:5000") == (
        f"http://h:5000/#/experiments/{run.info.experiment_id}/runs?workflowType=machine_learning"
    )


def test_a_second_stage_of_the_execution_shares_the_parent_and_a_failure_marks_it_failed(store, monkeypatch):
    monkeypatch.setenv("AUGMENT_EXECUTION_ID", "test-execution-2")
    with Tracker(store["params"], stage="sample", method="cvae", root=store["folder"]) as first:
        first_run = first.run_id
    with pytest.raises(RuntimeError, match="boom"):
        with Tracker(store["params"], stage="evaluate", method="cvae", root=store["folder"]) as second:
            second_run = second.run_id
            raise RuntimeError("boom")
    client = MlflowClient(store["uri"])
    parent = client.get_run(first_run).data.tags["mlflow.parentRunId"]
    assert client.get_run(second_run).data.tags["mlflow.parentRunId"] == parent
    assert client.get_run(parent).info.status == "FAILED"
    assert client.get_run(second_run).info.status == "FAILED"
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )
    assert sorted(r.data.tags[TAG_STAGE] for r in children) == ["evaluate", "sample"]


# --- refusals -------------------------------------------------------------------------------


def _register_folder(store, folder, name: str) -> str:
    """Register an arbitrary folder as a model version, as anyone with write access could."""
    mlflow.set_tracking_uri(store["uri"])
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    return f"models:/{name}/{version.version}"


def _mlmodel(folder, flavors: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors}))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    "kind, message",
    [
        ("foreign", "not an augment generator (MLflow flavours: python_function, sklearn)"),
        ("escape", "leaves the model folder; refused"),
        ("pickle", "refused to load"),
        ("missing", "cannot fetch the model"),
    ],
)
def test_a_foreign_or_hostile_registered_model_is_refused_in_one_line(env_store, tmp_path, capsys, kind, message):
    marker = tmp_path / "pwned"
    folder = tmp_path / "model"
    if kind == "foreign":  # e.g. a pickled scikit-learn model: never unpickled
        _mlmodel(
            folder,
            {
                "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
                "sklearn": {"pickled_model": "model.pkl"},
            },
        )
        (folder / "model.pkl").write_bytes(pickle.dumps(_Exploit(marker)))
    elif kind == "escape":
        _mlmodel(folder, {"augment": {"checkpoint": "../../../../../../etc/passwd"}})
    elif kind == "pickle":  # the augment flavour, but the "checkpoint" is a pickle that runs code
        _mlmodel(folder, {"augment": {"checkpoint": CHECKPOINT}})
        (folder / "data").mkdir()
        torch.save({"format_version": 1, "model": "cvae", "state_dict": _Exploit(marker)}, folder / CHECKPOINT)
    uri = "models:/no-such-model/1" if kind == "missing" else _register_folder(env_store, folder, f"hostile-{kind}")
    capsys.readouterr()  # MLflow's own lines about the registration

    assert main(["info", uri]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"augment info: error: {uri}") and message in err and "\n" not in err
    with pytest.raises(CheckpointError, match=message.split(" (")[0]):
        SyntheticDataset(uri, 3)
    assert not marker.exists()


def test_the_model_carries_its_environment_and_loads_where_only_its_folder_has_the_library(tmp_path):
    torch.manual_seed(0)
    save_generator(tmp_path / "cvae.pt", build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 3), CLASSES)
    folder = tmp_path / "model"
    save_model(tmp_path / "cvae.pt", folder)
    requirements = (folder / "requirements.txt").read_text().split()
    assert f"torch=={torch.__version__.split('+')[0]}" in requirements  # the version used, without a local label
    assert f"mlflow=={mlflow.__version__}" in requirements
    assert {r.split("==")[0] for r in requirements} >= {"torch", "torchvision", "numpy", "pyyaml", "mlflow"}
    pyfunc_conf = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    assert pyfunc_conf["env"]["virtualenv"] == "python_env.yaml" and pyfunc_conf["env"]["conda"] == "conda.yaml"
    assert pyfunc_conf["code"] == "code" and pyfunc_conf["loader_module"] == "augment.tracking.mlflow_model"
    python_env = yaml.safe_load((folder / "python_env.yaml").read_text())
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert (folder / "code/augment/tracking/mlflow_model.py").is_file()
    assert not list((folder / "code").rglob("__pycache__"))
    # a process where augment is not importable (no editable install, not the checkout) loads it
    script = f"""
import importlib.util, sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
assert importlib.util.find_spec("augment") is None
import mlflow.pyfunc, pandas as pd
images = mlflow.pyfunc.load_model({str(folder)!r}).predict(pd.DataFrame({{"label": [0, 2]}}), params={{"seed": 3}})
import augment
assert augment.__file__.startswith({str(folder / "code")!r}), augment.__file__
print(images.shape)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "(2, 1, 8, 8)"


def test_a_stage_run_names_its_script_and_the_parent_says_what_ran(store):
    client = MlflowClient(store["uri"])
    run = client.get_run(store["run_id"])
    assert run.data.tags["mlflow.source.name"] == "pipelines/train_generator.py"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.run_name.startswith("digits, all labels, 20")  # the dataset, the labels, when
    assert parent.data.tags["mlflow.source.name"] == "dvc.yaml"


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_runs_carry_the_checkouts_git_commit():
    tags = git_tags(ROOT)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == head and len(head) == 40
    assert git_tags(Path("/")) == {}  # outside a checkout: no tags, no error
