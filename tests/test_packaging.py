"""The package as pip users get it: a wheel of the library alone, its metadata, and a
SyntheticDataset that samples from a checkpoint with none of the pipeline's packages importable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from augment.settings.extras import DISTRIBUTION
from augment.settings.version import __version__
from tests.conftest import ROOT

CORE = {"torch", "torchvision", "numpy", "pillow", "pyyaml", "tqdm"}
PIPELINE = {"dvc", "mlflow", "matplotlib", "scipy", "scikit-learn", "psutil"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=out,  # the build runs in a copy: the checkout gets no build/ or .egg-info
    )
    (file,) = out.glob("*.whl")
    return file


def test_the_wheel_holds_the_library_alone_under_a_free_name(wheel):
    assert wheel.name.startswith(f"{DISTRIBUTION.replace('-', '_')}-{__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"augment", f"{DISTRIBUTION.replace('-', '_')}-{__version__}.dist-info"}, tops
    assert "augment/py.typed" in names
    assert not any(name.startswith(("pipelines/", "evaluation/", "tests/", "benchmarks/")) for name in names)
    assert any(name.endswith("licenses/LICENSE") or name.endswith("/LICENSE") for name in names)


def test_the_wheels_requirements_are_the_library_and_the_pipeline_extra(wheel):
    archive = zipfile.ZipFile(wheel)
    (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(archive.read(metadata).decode())
    assert meta["Name"] == DISTRIBUTION
    requires = meta.get_all("Requires-Dist")
    core = {r.split(">")[0].split("=")[0].strip().lower() for r in requires if "extra ==" not in r}
    extra = {r.split(">")[0].split("=")[0].strip().lower() for r in requires if 'extra == "pipeline"' in r}
    assert core == CORE
    assert extra == PIPELINE
    assert any(r.startswith("mlflow>=3") for r in requires)  # Model.log(name=...) is MLflow 3's
    entry_points = [n for n in archive.namelist() if n.endswith("entry_points.txt")]
    assert "augment = augment.cli:main" in archive.read(entry_points[0]).decode()


# the pipeline's packages, as if not installed: `import` raises ModuleNotFoundError and
# importlib.util.find_spec answers None (what a None in sys.modules means to both)
BLOCKER = """
import sys
for name in ("dvc", "mlflow", "matplotlib", "scipy", "sklearn", "psutil", "pandas", "evaluation", "pipelines"):
    sys.modules[name] = None
"""


def _fresh_venv(folder: Path, wheel: Path) -> tuple[Path, Path]:
    """A new virtual environment with the wheel pip-installed into it; its dependencies (torch,
    ...) come from this environment's site-packages through a .pth line, not from the network
    (offline), and that folder's own .pth files (this checkout's editable install) are not read.
    Returns (its python, its site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, capture_output=True)
    python = folder / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "dependencies.pth").write_text(here + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return python, site


def test_the_installed_wheel_samples_from_a_checkpoint_without_the_pipelines_packages(wheel, tmp_path):
    python, site = _fresh_venv(tmp_path / "venv", wheel)
    assert (site / "augment" / "py.typed").is_file()
    assert not (site / "pipelines").exists() and not (site / "evaluation").exists()
    script = BLOCKER + textwrap.dedent(
        f"""
        import torch
        import augment
        assert augment.__file__.startswith({str(site)!r}), augment.__file__
        from augment import SyntheticDataset
        from augment.models import build_model
        from augment.params.config import Params
        from augment.training.checkpoint import save_generator

        torch.manual_seed(0)
        cfg = Params().generator("cvae")
        save_generator("g.pt", build_model("cvae", cfg, (1, 8, 8), 3), ["a", "b", "c"])
        data = SyntheticDataset("g.pt", per_class=2, seed=1)
        image, label = data[5]
        assert len(data) == 6 and data.classes == ["a", "b", "c"] and label == 2 and image.size == (8, 8)
        try:
            SyntheticDataset("models:/augment-cvae/1", 3)
        except ValueError as err:  # the pipeline extra's one line, not an ImportError
            assert "pip install 'augment-cgen[pipeline]'" in str(err), err
        else:
            raise AssertionError("a models:/ URI without mlflow did not fail")
        from augment.data.splits import load_splits
        from augment.params.config import DataConfig

        try:
            load_splits(DataConfig())  # the bundled digits ship inside scikit-learn
        except ValueError as err:
            assert "data.dataset: digits" in str(err) and "augment-cgen[pipeline]" in str(err), err
        else:
            raise AssertionError("the digits without scikit-learn did not fail")
        print("ok")
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(python), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_version_and_help_import_neither_torch_nor_the_models():
    script = (
        "import sys\n"
        "from augment.cli import main\n"
        "for argv in (['--version'], ['--help'], ['sample', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, e.code\n"
        "heavy = sorted(m for m in ('torch', 'augment.models', 'mlflow', 'PIL') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"augment {__version__}\n")


def test_the_readmes_snippet_runs_as_written(tmp_path, monkeypatch):
    """README.md's Python block, executed in a project with the splits and a CVAE-GAN checkpoint
    (tiny, untrained: the snippet's API is what is checked, not the images)."""
    import re

    import torch

    from augment.data.splits import load_splits
    from augment.models import build_model
    from augment.params.config import DataConfig, Params
    from augment.training.checkpoint import save_generator

    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    splits = load_splits(DataConfig())
    splits.save(tmp_path / "data/splits/splits.pt")
    cfg = Params().generator("cvaegan")
    save_generator(
        tmp_path / "models/generators/cvaegan.pt", build_model("cvaegan", cfg, (1, 8, 8), 10), splits.classes
    )
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the project's own README
    assert tuple(scope["images"].shape) == (64, 1, 8, 8) and scope["labels"].dtype == torch.int64
    assert len(scope["loader"].dataset) == len(splits.train) + 5000
