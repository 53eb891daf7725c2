"""Generator plugins: a generator defined outside the package, registered through the entry-point
group ``augment.generators`` (augment/models/registry.py, docs/plugins.md).

The plugin is a real installed distribution as far as importlib.metadata is concerned: a package
and a ``*.dist-info`` folder with ``entry_points.txt`` in a temporary folder on ``sys.path`` (or
PYTHONPATH for the console script). Nothing in augment/ names it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from augment.cli import main
from augment.models import REGISTRY, PluginError, model_class
from augment.params.config import ConfigError
from augment.params.file import load_params, params_from_dict
from augment.synthesis.synthetic import SyntheticDataset
from augment.synthesis.synthetic_files import load_synthetic
from tests.conftest import ROOT, copy_project

PLUGIN = "toygen"

# A small but real generator: a label embedding plus a code z through one linear layer to a
# sigmoid image, fitted by mean squared error to the real images of its label.
PLUGIN_SOURCE = '''
"""A toy class-conditional generator that lives outside augment."""
import math
from dataclasses import dataclass

import torch
from torch import nn

from augment.models import ConditionalGenerator


@dataclass
class ToyConfig:
    epochs: int = 2
    batch_size: int = 32
    latent_dim: int = 4
    lr: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    ema: float = 0.0


@dataclass
class ToySampling:  # sample.generators.toygen: how it draws, set without retraining
    spread: float = 1.0  # the code z is drawn with this standard deviation


class ToyNet(nn.Module):
    def __init__(self, latent_dim, num_classes, image_shape):
        super().__init__()
        self.image_shape = image_shape
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.out = nn.Linear(latent_dim, math.prod(image_shape))

    def forward(self, z, y):
        return torch.sigmoid(self.out(0.1 * z + self.embed(y))).view(-1, *self.image_shape)


class ToyGenerator(ConditionalGenerator):
    name = "toygen"
    config_class = ToyConfig
    sampling_class = ToySampling
    loss_names = ("mse",)
    sampler = "net"

    def __init__(self, config, image_shape, num_classes):
        super().__init__(config, image_shape, num_classes)
        self.net = ToyNet(config.latent_dim, num_classes, self.image_shape)
        self._finish_init()

    def make_optimizers(self):
        return {"net": self._adam(self.net)}

    def decode(self, z, y):
        return self.sampling_decoder()(self.sampling.spread * z, y)

    def train_step(self, x, y, optimizers):
        loss = ((self.net(self.sample_noise(len(y)), y) - x) ** 2).mean()
        self._step(optimizers["net"], loss)
        return {"mse": loss.item()}
'''


def write_plugin(
    folder: Path, entry: str = f"{PLUGIN} = augment_toygen:ToyGenerator", source: str = PLUGIN_SOURCE
) -> Path:
    """An installed-looking distribution ``augment-toygen`` in ``folder``: the module and its
    dist-info (METADATA, entry_points.txt), as pip would leave them in site-packages."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "augment_toygen.py").write_text(textwrap.dedent(source))
    info = folder / "augment_toygen-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: augment-toygen\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[augment.generators]\n{entry}\n")
    return folder


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The toy plugin installed for this process (and found again after the test is over: gone)."""
    site = write_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    REGISTRY.reload()
    yield site
    sys.modules.pop("augment_toygen", None)
    monkeypatch.undo()
    REGISTRY.reload()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The digits' params.yaml, 200 images, tracking off, in a fresh working directory."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"]["train_size"] = 200
    params["tracking"]["enabled"] = False
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(folder)
    return folder


def test_a_plugin_is_registered_beside_the_builtins(installed):
    assert PLUGIN in REGISTRY and list(REGISTRY)[-1] == PLUGIN
    assert model_class(PLUGIN).__module__ == "augment_toygen"
    assert "cvae" in REGISTRY and len(REGISTRY) == 5


def test_its_section_is_read_checked_and_defaulted(installed):
    absent = load_params(None)  # no generators.toygen section: the config class's defaults
    assert absent.generator(PLUGIN).epochs == 2 and absent.generator(PLUGIN).batch_size == 32
    given = params_from_dict({"generators": {PLUGIN: {"epochs": 5}}})
    assert given.generator(PLUGIN).epochs == 5
    assert given.to_dict()["generators"][PLUGIN]["epochs"] == 5  # generators.<name>, as for the built-ins
    assert "plugins" not in given.to_dict()["generators"]
    with pytest.raises(ConfigError, match=r"generators\.toygen\.epochs: expected an integer"):
        params_from_dict({"generators": {PLUGIN: {"epochs": "many"}}})
    with pytest.raises(
        ConfigError, match=r"unknown key 'generators\.toygen\.epoch'; did you mean 'generators\.toygen\.epochs'"
    ):
        params_from_dict({"generators": {PLUGIN: {"epoch": 5}}})
    assert load_params(None, [f"generators.{PLUGIN}.latent_dim=3"]).generator(PLUGIN).latent_dim == 3
    # its sampling settings: sample.generators.toygen, like cfm's
    assert absent.sampling(PLUGIN).spread == 1.0
    assert load_params(None, [f"sample.generators.{PLUGIN}.spread=0"]).sampling(PLUGIN).spread == 0.0
    assert params_from_dict({"sample": {"generators": {PLUGIN: {"spread": 0.5}}}}).to_dict()["sample"]["generators"][
        PLUGIN
    ] == {"spread": 0.5}
    with pytest.raises(ConfigError, match=r"^generators\.toygen\.spread: a sampling setting .* sample\.generators"):
        params_from_dict({"generators": {PLUGIN: {"spread": 0.5}}})


def test_without_the_plugin_its_section_and_name_are_unknown():
    assert PLUGIN not in REGISTRY
    # its section names the generator that is missing, with the nearest one and the plugins
    with pytest.raises(ConfigError, match=r"^generators\.toygen: unknown generator 'toygen'.*plugins: none installed"):
        params_from_dict({"generators": {PLUGIN: {"epochs": 5}}})
    with pytest.raises(ConfigError, match=r"^generators\.cvea: unknown generator 'cvea' \(did you mean 'cvae'\?\)"):
        params_from_dict({"generators": {"cvea": {"epochs": 5}}})
    with pytest.raises(ConfigError, match=r"^generators\.methods: unknown generator 'toygen'"):
        params_from_dict({"generators": {"methods": {PLUGIN: "data/splits"}}})
    with pytest.raises(
        ConfigError,
        match=r"unknown generator 'toygen'.*plugins: none installed \(entry-point group augment\.generators\)",
    ):
        load_params(None).generator(PLUGIN)
    with pytest.raises(ConfigError, match=r"unknown generator 'cvea' \(did you mean 'cvae'\?\)"):
        model_class("cvea")


def test_train_sample_and_synthetic_dataset_through_the_plugin(installed, project, capsys):
    assert main(["train", PLUGIN, "--no-progress", "--set", f"generators.{PLUGIN}.epochs=3"]) == 0
    checkpoint = project / f"models/generators/{PLUGIN}.pt"
    assert f"{PLUGIN}: 3 epochs" in capsys.readouterr().out
    losses = (project / f"reports/generators/{PLUGIN}/losses.csv").read_text().splitlines()
    assert losses[0].split(",")[-1] == "mse" and len(losses) == 4  # header + one row per epoch

    out = project / "toy.pt"
    assert main(["sample", PLUGIN, "-n", "30", "--seed", "1", "--out", str(out)]) == 0
    images, _, meta = load_synthetic(out)
    assert images.images.shape == (30, 1, 8, 8) and meta["model"] == PLUGIN
    assert torch.bincount(images.labels).tolist() == [3] * 10

    data = SyntheticDataset(model=PLUGIN, per_class=3, seed=1)  # <paths.generators>/toygen.pt
    x, y = data[0]
    assert x.size == (8, 8) and int(y) == 0  # a PIL image, as torchvision's datasets give
    drawn, labels = data.tensors()
    assert drawn.shape == (30, 1, 8, 8) and torch.bincount(labels).tolist() == [3] * 10
    assert torch.equal(SyntheticDataset(model=PLUGIN, per_class=3, seed=1).tensors()[0], drawn)  # seeded
    # drawn with its sampling settings: spread 0 draws every image of a class from z = 0
    flat, labels = SyntheticDataset(model=PLUGIN, per_class=3, seed=1, sampling={"spread": 0.0}).tensors()
    assert torch.equal(flat[labels == 4][0], flat[labels == 4][2]) and not torch.equal(flat, drawn)
    with pytest.raises(ConfigError, match=r"sample\.generators\.toygen\.spread: expected a number"):
        SyntheticDataset(model=PLUGIN, per_class=3, sampling={"spread": "wide"})
    capsys.readouterr()
    assert main(["info", str(checkpoint), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == PLUGIN


def test_a_checkpoint_whose_plugin_is_gone_is_refused_in_one_line(installed, project, capsys, monkeypatch):
    assert main(["train", PLUGIN, "--no-progress", "--set", f"generators.{PLUGIN}.epochs=1"]) == 0
    capsys.readouterr()
    sys.modules.pop("augment_toygen", None)
    monkeypatch.undo()  # the plugin is uninstalled
    REGISTRY.reload()
    monkeypatch.chdir(project)
    assert main(["sample", f"models/generators/{PLUGIN}.pt", "-n", "10", "--out", "x.pt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"holds a '{PLUGIN}' generator, which this installation does not have" in err
    assert "entry-point group augment.generators" in err
    assert not (project / "x.pt").exists()


@pytest.mark.parametrize(
    ("entry", "source", "message"),
    [
        (f"{PLUGIN} = augment_toygen:Missing", PLUGIN_SOURCE, "cannot be imported: AttributeError"),
        (
            f"{PLUGIN} = augment_toygen:ToyConfig",
            PLUGIN_SOURCE,
            "expected a subclass of augment.models.ConditionalGenerator",
        ),
        (
            "other = augment_toygen:ToyGenerator",
            PLUGIN_SOURCE,
            "the class's name is 'toygen', the entry point's 'other'",
        ),
        ("cvae = augment_toygen:ToyGenerator", PLUGIN_SOURCE, "'cvae' is a built-in generator"),
        ("real = augment_toygen:ToyGenerator", PLUGIN_SOURCE, "'real' cannot name a generator"),
        (f"{PLUGIN} = augment_toygen:ToyGenerator", "import not_a_module\n", "cannot be imported: ModuleNotFoundError"),
        (
            f"{PLUGIN} = augment_toygen:ToyGenerator",
            PLUGIN_SOURCE.replace("    batch_size: int = 32\n", ""),
            "its config_class lacks batch_size",
        ),
    ],
)
def test_a_broken_plugin_is_one_line_naming_its_entry_point(tmp_path, monkeypatch, entry, source, message):
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "site", entry, source)))
    REGISTRY.reload()
    try:
        with pytest.raises(PluginError) as caught:
            list(REGISTRY)
        text = str(caught.value)
        assert message in text and "entry-point group augment.generators" in text and "\n" not in text
        assert isinstance(caught.value, ConfigError)  # exit 2 wherever a ConfigError is
    finally:
        sys.modules.pop("augment_toygen", None)
        monkeypatch.undo()
        REGISTRY.reload()


def test_params_that_name_only_built_ins_load_no_plugin(tmp_path, monkeypatch):
    """A broken plugin that params.yaml does not name stops nothing that reads params.yaml
    (sample.generators lists the built-ins' sections: it must not make the loader find every
    plugin); it is found, and refused, where it is first needed."""
    entry = f"{PLUGIN} = augment_toygen:ToyGenerator"
    monkeypatch.syspath_prepend(str(write_plugin(tmp_path / "site", entry, "import not_a_module\n")))
    REGISTRY.reload()
    try:
        params = load_params(ROOT / "params.yaml", ["sample.generators.cfm.guidance=0.5"])
        assert params.sampling("cfm").guidance == 0.5
        with pytest.raises(PluginError, match="cannot be imported"):
            params_from_dict({"sample": {"generators": {PLUGIN: {}}}})  # it names a plugin
    finally:
        sys.modules.pop("augment_toygen", None)
        monkeypatch.undo()
        REGISTRY.reload()


def test_the_console_script_finds_an_installed_plugin(tmp_path, project):
    """The path users take: a plugin installed in the environment (here PYTHONPATH), the
    `augment` command in a fresh process."""
    site = write_plugin(tmp_path / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    command = [sys.executable, "-m", "augment.cli", "train", PLUGIN, "--no-progress"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=project, env=env)
    assert run.returncode == 0, run.stderr
    assert (project / f"models/generators/{PLUGIN}.pt").is_file()
    env["PYTHONPATH"] = str(ROOT)  # uninstalled
    run = subprocess.run(command, capture_output=True, text=True, cwd=project, env=env)
    assert run.returncode == 2 and "unknown generator 'toygen'" in run.stderr and "Traceback" not in run.stderr


def test_a_plugin_listed_in_generators_methods_runs_through_dvc_repro(tmp_path):
    """The whole pipeline for a generator that augment/, evaluation/ and pipelines/ never name:
    listed in generators.methods, it is trained, sampled, filtered and evaluated by dvc.yaml's
    foreach stages, and metrics.json carries its sources beside the baselines."""
    project = tmp_path / "project"
    env = copy_project(project, {})
    site = write_plugin(tmp_path / "site")
    env["PYTHONPATH"] = str(site)  # "installed" for every stage DVC starts
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["generators"]["methods"] = {PLUGIN: params["paths"]["splits"]}  # the plugin alone
    params["generators"][PLUGIN] = {"epochs": 2}
    params["sample"]["generators"] = {PLUGIN: {"spread": 0.5}}  # dvc.yaml's sample@toygen reads it
    params["sample"].update(per_class=20)
    params["sample"]["styled"].update(noise=1.0, methods=[])
    params["sample"]["filter"]["max_draws"] = 10
    sources = ["real", "classic", PLUGIN, f"classic+{PLUGIN}", f"{PLUGIN}-filtered"]
    params["data"]["train_size"] = 200
    params["classifier"].update(sources=sources, seeds=[0, 1], steps=30, width=8)
    params["evaluation"].update(
        max_images=100, kid_subsets=3, judge={**params["evaluation"]["judge"], "steps": 30, "width": 8}
    )
    params["tracking"]["enabled"] = False
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    run = subprocess.run(["dvc", "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"train_generator@{PLUGIN}" in run.stdout and "train_generator@cvae" not in run.stdout
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert list(metrics) == sources
    assert metrics[PLUGIN]["fid"] is not None and "delta_vs_classic" in metrics[f"classic+{PLUGIN}"]
    assert "acceptance_rate" in metrics[f"{PLUGIN}-filtered"]
    assert (project / "models" / "generators" / f"{PLUGIN}.pt").is_file()

    # the report and the plots treat it as a built-in: its headline metrics, its training curves
    # in the report and in `dvc plots`, its rows in the quality table and the summary
    assert sorted(p.stem for p in (project / "reports" / "metrics").glob("*.json")) == sorted(sources)
    report = (project / "reports" / "comparison.md").read_text()
    assert f"](figures/training_{PLUGIN}.png)" in report
    summary = report.split("## Summary", 1)[1].split("**Setup:**", 1)[0]
    assert f"label fidelity {PLUGIN} (" in summary and f"CAS {PLUGIN} (" in summary
    assert re.search(rf"^\| {PLUGIN} \|", report, re.M)  # its row in the quality table
    plots = subprocess.run(["dvc", "plots", "show", "--json"], cwd=project, env=env, capture_output=True, text=True)
    assert plots.returncode == 0, plots.stderr
    shown = json.loads(plots.stdout)
    assert "errors" not in shown, shown["errors"]  # every file of the plots folders renders
    assert {f"reports/figures/training_{PLUGIN}.png", "reports/figures/samples.png"} <= set(shown["data"])
    assert f"reports/stylize/{PLUGIN}/none.png" in shown["data"]  # no encoder: the folder says why

    # uninstalled, the same project stops at its first stage in one line naming the method
    env["PYTHONPATH"] = ""
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.sample", PLUGIN], cwd=project, env=env, capture_output=True, text=True
    )
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert f"generators.{PLUGIN}: unknown generator '{PLUGIN}'" in run.stderr
